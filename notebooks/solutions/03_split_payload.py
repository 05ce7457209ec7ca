# Reference solution: lesson 03, "split a v4 payload by hand".
import base64

NAMES = ["OPEN", "CLOSE", "PING", "PONG", "MESSAGE", "UPGRADE", "NOOP"]


def split_payload(body):
    """[(type name, data), ...] for a v4 polling body; b-packets become bytes."""
    pairs = []
    for packet in body.split("\x1e"):  # v4 joins packets with the record separator
        if packet.startswith("b"):  # binary: 'b' then base64, always a MESSAGE
            pairs.append(("MESSAGE", base64.b64decode(packet[1:])))
        else:  # the type digit, then the data as text
            pairs.append((NAMES[int(packet[0])], packet[1:]))
    return pairs
