# Reference solution: lesson 09, "connect()".
@sio.on("connect")
async def connect(sid, environ, auth):
    """Let in a client whose auth holds a valid token; refuse others, saying why."""
    token = auth.get("token") if isinstance(auth, dict) else None
    try:
        signer.verify(token)  # raises ValueError: missing, malformed, forged or expired
    except ValueError as error:
        raise socketio.exceptions.ConnectionRefusedError(str(error)) from None
