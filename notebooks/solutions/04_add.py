# Reference solution: lesson 04, "an adding machine with an ack".
@sio.on("add")
async def add(sid, numbers):
    """Ack the sum of a list of numbers, or {"error": "..."} for anything else."""
    if not isinstance(numbers, list) or not all(
        # bool is a subclass of int in Python, but true/false are not numbers in JSON
        isinstance(n, (int, float)) and not isinstance(n, bool)
        for n in numbers
    ):
        return {"error": "send a list of numbers"}
    return sum(numbers)  # the return value is the ack
