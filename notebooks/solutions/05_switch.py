# Reference solution: lesson 05, "switch rooms".
@sio.on("switch", namespace="/post")
async def switch(sid, data):
    """Leave every room but your own, then enter data["room"]."""
    for room in sio.rooms(sid, namespace="/post"):
        if room != sid:  # every client stays in the room named after its own id
            await sio.leave_room(sid, room, namespace="/post")
    await sio.enter_room(sid, data["room"], namespace="/post")
