# Your answer: replace the ... with the body of add_suite_handlers(), then run this cell.


def add_suite_handlers(sio):
    """Register connect, message and message-with-ack on "/" and "/custom" of sio."""
    for namespace in ["/", "/custom"]:

        async def connect(sid, environ, auth, namespace=namespace):
            await sio.emit("auth", auth, to=sid, namespace=namespace)

        async def message(sid, *args, namespace=namespace):
            await sio.emit("message-back", args, to=sid, namespace=namespace)

        async def message_with_ack(sid, *args):
            return args

        sio.on("connect", connect, namespace=namespace)
        sio.on("message", message, namespace=namespace)
        sio.on("message-with-ack", message_with_ack, namespace=namespace)
