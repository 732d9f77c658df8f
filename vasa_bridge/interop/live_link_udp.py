"""Live Link Face UDP packets: what the iPhone app sends to Unreal (port 11111), from our motion frames.

One datagram per frame, big-endian (Unreal's network-byte-order serializer), as read by Unreal's
AppleARKitLiveLinkSource (packet version 6):

    uint8   version (6)
    int32   length, then that many UTF-8 bytes: device id (the app sends its device's UUID)
    int32   length, then that many UTF-8 bytes: subject name (what Unreal lists as the Live Link subject)
    int32   frame number  } FQualifiedFrameTime: the frame's timecode (time-of-day frames, as the app sends)
    float32 sub-frame     }
    int32   rate numerator, int32 rate denominator (60, 1)
    uint8   value count (61)
    float32 x count: the values in Unreal's EARFaceBlendShape order (UDP_VALUE_NAMES) — NOT the CSV's order
                     (JawLeft/JawRight and MouthLeft/MouthRight are swapped between the two)

The values and rotation conventions are those of the CSV (interop/live_link_face.py).
"""

from __future__ import annotations

import socket
import struct
import uuid

import numpy as np

from vasa_bridge.interop import live_link_face

PACKET_VERSION = 6
DEFAULT_PORT = 11111
DEFAULT_SUBJECT = "vasa_bridge"
RATE_FPS = 60                    # the app's rate; Unreal interpolates between frames
_MAX_NAME_BYTES = 255

# Unreal's EARFaceBlendShape enum order (AugmentedReality/ARTypes.h), which indexes the packet's floats.
UDP_VALUE_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
) + live_link_face.ROTATION_NAMES
assert sorted(UDP_VALUE_NAMES) == sorted(live_link_face.CSV_VALUE_NAMES)
# CSV position of each UDP value: values_udp = values_csv[CSV_TO_UDP].
CSV_TO_UDP = np.array([live_link_face.CSV_VALUE_NAMES.index(n) for n in UDP_VALUE_NAMES])


def _name_bytes(text: str, what: str) -> bytes:
    data = text.encode("utf-8")
    if not data or len(data) > _MAX_NAME_BYTES:
        raise ValueError(f"Live Link {what} must be 1..{_MAX_NAME_BYTES} UTF-8 bytes, got {text!r}")
    return data


def encode_packet(values_csv_order: np.ndarray, subject_name: str, device_id: str, frame_number: int,
                  sub_frame: float = 0.0, rate_fps: int = RATE_FPS) -> bytes:
    """One Live Link Face datagram for 61 values in CSV order (live_link_face.to_values)."""
    values = np.asarray(values_csv_order, np.float64)
    if values.shape != (live_link_face.N_VALUES,):
        raise ValueError(f"expected {live_link_face.N_VALUES} Live Link values, got shape {values.shape}")
    device, subject = _name_bytes(device_id, "device id"), _name_bytes(subject_name, "subject name")
    return b"".join([
        struct.pack(">B", PACKET_VERSION),
        struct.pack(">i", len(device)), device,
        struct.pack(">i", len(subject)), subject,
        struct.pack(">ifii", frame_number, sub_frame, rate_fps, 1),
        struct.pack(">B", live_link_face.N_VALUES),
        struct.pack(f">{live_link_face.N_VALUES}f", *values[CSV_TO_UDP]),
    ])


def parse_host_port(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """`HOST:PORT`, `HOST` or `[IPv6]:PORT` -> (host, port)."""
    host, port = text, str(default_port)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else port
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        port_number = int(port)
    except ValueError:
        port_number = -1
    if not host or not 0 < port_number < 65536:
        raise ValueError(f"expected HOST:PORT for Live Link (e.g. 127.0.0.1:{DEFAULT_PORT}), got {text!r}")
    return host, port_number


class LiveLinkSender:
    """Sends motion frames to a Live Link Face receiver (Unreal's Live Link "LiveLinkFace" source) over UDP.

    `send(frame, time_s)` sends one frame of our layout at `time_s` seconds on the caller's clock; the packet's
    frame number is `time_s` in 60-fps frames after `start_frame` (the time of day in 60-fps frames by
    default, like the app's timecode). Pacing is the caller's: the sidecar produces frames in real time,
    `LiveLinkPacer` paces a file's.
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, subject_name: str = DEFAULT_SUBJECT,
                 device_id: str | None = None, start_frame: int | None = None) -> None:
        _name_bytes(subject_name, "subject name")
        self.address = (host, port)
        self.subject_name = subject_name
        self.device_id = device_id or str(uuid.uuid4()).upper()
        if start_frame is None:
            start_frame = int(live_link_face.time_of_day_s() * RATE_FPS)
        self.start_frame = start_frame
        # Resolve now, so a wrong host name fails here rather than on the first frame (socket.gaierror).
        family, _, _, _, self._sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self.packets_sent = 0

    def send(self, frame: np.ndarray, time_s: float) -> None:
        """One frame of the motion layout (60 channels) at `time_s`."""
        values = live_link_face.to_values(np.asarray(frame, np.float64)[None, :])[0]
        self.send_values(values, time_s)

    def send_values(self, values_csv_order: np.ndarray, time_s: float) -> None:
        exact = time_s * RATE_FPS
        whole = int(np.floor(exact + 1e-6))
        packet = encode_packet(values_csv_order, self.subject_name, self.device_id, self.start_frame + whole,
                               sub_frame=float(max(0.0, exact - whole)))
        self._socket.sendto(packet, self._sockaddr)
        self.packets_sent += 1

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> "LiveLinkSender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
