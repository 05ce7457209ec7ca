# Reference solution: lesson 01, "a server that shouts".
async def shout(websocket):
    """Answer text in upper case, and binary messages with their bytes reversed."""
    async for message in websocket:
        if isinstance(message, str):  # a text frame arrives as str
            await websocket.send(message.upper())
        else:  # a binary frame arrives as bytes
            await websocket.send(message[::-1])
