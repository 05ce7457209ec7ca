# Reference solution: lesson 02, "encode a frame header".
import struct


def encode_header(opcode, length, masked):
    """The header of a final frame: two bytes, then a 16- or 64-bit length if needed."""
    first = 0b10000000 | opcode  # FIN set, no RSV bits, the opcode in the low 4 bits
    mask_bit = 0b10000000 if masked else 0
    if length < 126:  # fits in the 7-bit length field
        return bytes([first, mask_bit | length])
    if length < 2**16:  # 126: a 16-bit length follows, network byte order
        return bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    return bytes([first, mask_bit | 127]) + struct.pack("!Q", length)  # 127: 64 bits
