"""The seam between a phone and the carrier.

Two interfaces meet here:

- ``Network``: what a handset needs from the network (attach a line, the key directory, the
  tap, a forged line for the stage). The in-process ``Bus`` is one; another may carry the
  frames between processes.
- The **hop seam**, per attached phone, between the phone's radio side (its ``Modem`` and its
  ``Radio``: the link's impairment and its end of the reliable hop) and the carrier's side
  (registration, routing, store-and-forward...). Frames cross it as raw bytes: hop frames
  (``frames.HopFrame``) and real-time voice frames (``frames.encode_voice``).

  - ``Uplink`` is the carrier's end, which the phone calls: the frames it puts up, its
    registration, a session restart.
  - ``PhoneEnd`` is the phone's end, which the carrier calls: the frames it sends down, the
    session it opened or closed.

  **Where the link impairment runs.** Both directions run on the phone's side, so a second
  transport (a broker between a trainee's process and the instructor's) carries frames that
  already are, or are yet to be, impaired by the phone that owns the link: up, the phone's radio
  impairs a frame before ``Uplink.send`` (what crosses the seam arrived at the carrier: lost
  frames never cross, corrupted ones cross corrupted, a frame's duplicates cross twice); down,
  the carrier hands a clean frame to ``PhoneEnd.deliver`` and the phone's radio impairs it on
  its way to the modem. The carrier taps a frame up when it arrives, a frame down when it sends
  it (what an operator's probe at the base station sees).

  Each method takes effect at once, on the calling side's loop: an in-process seam calls
  straight through, so timing is the link's alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from phone_tui.modem.cells import Identity
    from phone_tui.modem.forged import ForgedLine
    from phone_tui.modem.frames import Envelope
    from phone_tui.modem.modem import Modem
    from phone_tui.modem.profiles import LinkProfile
    from phone_tui.modem.tap import OperatorTap

NETWORK = "network"  # the carrier's own address on envelopes (its reports, a phone's pings)

MessageHandler = Callable[["Envelope"], None]
StateHandler = Callable[[bytes, str, str], None]  # msg_id, "sent"/"delivered"/"failed", reason


class Network(Protocol):
    """What a handset needs from the network; another implementation may carry frames between
    processes."""

    tap: OperatorTap

    def attach(self, number: str, profile: LinkProfile, *, on_message: MessageHandler,
               on_state: StateHandler, powered: bool = True,
               identity: Identity | None = None) -> Modem: ...

    def publish_keys(self, number: str, bundle: bytes,
                     one_time: dict[int, bytes] | None = None) -> None: ...

    def fetch_keys(self, number: str) -> tuple[bytes, tuple[int, bytes] | None] | None: ...

    def one_time_keys_left(self, number: str) -> int: ...

    def has_keys(self, number: str) -> bool: ...

    def is_attached(self, number: str) -> bool: ...

    def waiting(self, number: str) -> int: ...

    def forge(self, number: str) -> ForgedLine: ...

    def forget_keys(self, number: str) -> None: ...

    def peek_bundle(self, number: str) -> bytes | None: ...


class Uplink(Protocol):
    """The carrier's end of one phone's hop seam: what the phone's side calls."""

    def send(self, frame: bytes) -> None:
        """A frame that crossed the phone's radio link up (already past its impairment): a hop
        frame or a voice frame, as it arrived at the carrier."""

    def registration(self, in_service: bool) -> None:
        """The phone's radio is in service (it registers: the carrier opens a hop session and
        sends down what waits) or not (it drops off: what it had not acknowledged waits)."""

    def restart_session(self) -> None:
        """The phone's end of the hop gave up on a frame: the carrier starts a new session on
        the next loop turn (as if the phone dropped off and registered again)."""

    def camp(self, cell: str, disclosed: dict[str, str]) -> None:
        """The phone camped on ``cell`` ("" : none) and, before that, answered its identity
        requests with ``disclosed`` (kind -> value: what it sent in clear)."""


class PhoneEnd(Protocol):
    """The phone's end of its hop seam: what the carrier calls."""

    def deliver(self, frame: bytes) -> None:
        """A frame the carrier sends down (a hop frame or a voice frame), not yet through the
        phone's radio link: the phone's side applies the link's impairment."""

    def opened(self, session: int) -> None:
        """The phone registered: a new hop session (its number) starts at both ends."""

    def closed(self) -> None:
        """The phone is no longer registered: its end of the hop session closes."""
