# Reference solution: lesson 07, "show each stored message once".
def keep_new(last, arrived):
    """The payloads of `arrived` to show, in order: each offset once, none <= last."""
    shown = []
    for payload in arrived:
        offset = payload.get("offset")
        if offset is None:  # no store, no offsets: nothing to compare it with
            shown.append(payload)
        elif offset > last:  # offsets only grow: a lower or equal one was shown already
            shown.append(payload)
            last = offset
    return shown
