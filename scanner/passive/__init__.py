"""Passive decoding: observations from traffic that was only heard, never asked for.

`packet.parse_frame` turns a captured frame into a `Packet`; `decoders/` holds one module per
protocol (a `Decoder` subclass each); `decode.FrameDecoder` runs every decoder that wants a
packet and de-duplicates what they say; `capture_file` reads pcap/pcapng files. Nothing here
sends a packet (docs/passive.md).
"""
