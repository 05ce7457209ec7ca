# Reference solution: lesson 06, "who is online?".
def online(client):
    """The names of the users logged in now, sorted."""
    roster = client.call("users")  # asked with an ack: {"users": [...], "numUsers": n}
    return sorted(roster["users"])
