# Reference solution: lesson 08, "push to one user".
def push(url, user, text):
    """Send text to user only, as a 'private message' from the backend, through Redis."""
    import redis as redis_py
    import socketio

    holder = redis_py.Redis.from_url(url, decode_responses=True).hget("wire-to-room:users", user)
    _server, sid = holder.split(" ")  # which chat server holds the name, and the user's sid
    queue = socketio.RedisManager(url, channel="wire-to-room", write_only=True)
    queue.emit("private message", {"from": "backend", "to": user, "mess": text}, room=sid)
