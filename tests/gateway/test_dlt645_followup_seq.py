"""DL/T 645-2007 follow-up frames (12H) carry the sequence number (后续帧序号, SEQ) of the frame they
answer. A converter on real TCP answers a read of 0001FF00 in two frames: the first says
"follow-up frames" (B1H), the follow-up (92H) ends with a SEQ byte. With the SEQ asked for, the
client joins the two. A frame with another SEQ is a late answer to an earlier follow-up request:
skipped, the client waits on for its own within the timeout, and when only such frames come it
refuses the answer (AnswerRefused, a MeterUnavailable) instead of joining a frame it did not ask
for. A follow-up answer with nothing after the identifier has no SEQ (the standard's 后续帧 answer
is DI, data, SEQ) and is refused, even where the identifier's last byte equals the SEQ asked for."""

import asyncio

import pytest

from lingtan.gateway.dlt645 import AnswerRefused, Dlt645Client
from lingtan.kernel import dlt645 as codec
from lingtan.kernel.config import Bus

ADDRESS = "000000000161"
DI = "0001FF00"
FIRST = bytes.fromhex("00 01 00 00")  # 100.00 kWh as BCD, lowest byte first (XXXXXX.XX)
SECOND = bytes.fromhex("00 02 00 00")  # 200.00 kWh


def converter(seq_shift: int, di_text: str = DI, stale_first: bool = False, no_seq: bool = False):
    """A meter behind a serial-to-TCP converter answering reads and follow-up reads of `di_text`:
    with `stale_first`, the late answer to the previous follow-up frame (SEQ one lower) comes just
    before the right one; with `no_seq`, the follow-up answer is the identifier alone."""
    async def meter(reader, writer):
        buffer = b""
        while True:
            data = await reader.read(256)
            if not data:
                return
            buffer += data
            while buffer and buffer[0] != codec.START:
                buffer = buffer[1:]  # the preamble (FE)
            n = codec.frame_length(buffer) if buffer else None
            if n is None:
                continue
            request, buffer = codec.decode(buffer[:n]), buffer[n:]
            di = codec.di_bytes(di_text)
            if request.function == codec.READ_DATA:
                answer = codec.Frame(ADDRESS, codec.FROM_METER | codec.FOLLOWS | codec.READ_DATA, di + FIRST)
            elif no_seq:
                answer = codec.Frame(ADDRESS, codec.FROM_METER | codec.READ_FOLLOWUP, di)
            else:
                seq = request.data[4] + seq_shift
                answer = codec.Frame(ADDRESS, codec.FROM_METER | codec.READ_FOLLOWUP, di + SECOND + bytes([seq]))
                if stale_first:
                    late = codec.Frame(ADDRESS, codec.FROM_METER | codec.READ_FOLLOWUP, di + FIRST + bytes([seq - 1]))
                    writer.write(codec.encode(late, 4))
                    await writer.drain()
                    await asyncio.sleep(0.05)  # the late frame and ours as two TCP segments
            writer.write(codec.encode(answer, 4))
            await writer.drain()
    return meter


async def _read(seq_shift: int, di: str = DI, retries: int = 1, **answers) -> tuple[bytes, list]:
    server = await asyncio.start_server(converter(seq_shift, di, **answers), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Dlt645Client(Bus(id="conv", protocol="dlt645", transport="tcp", host="127.0.0.1", port=port,
                              timeout_s=0.5, retries=retries))
    try:
        return await client.read(ADDRESS, di), client.last_raw
    finally:
        client.close()
        server.close()


def test_a_follow_up_frame_with_the_sequence_number_asked_for_is_joined():
    value, raw = asyncio.run(_read(0))
    assert value == FIRST + SECOND
    assert [codec.decode(answer).control for _, answer in raw] == [0xB1, 0x92]


@pytest.mark.parametrize("shift", [1, -1])
def test_a_follow_up_frame_with_another_sequence_number_is_refused(shift):
    with pytest.raises(AnswerRefused, match=rf"reading DI {DI}: answer refused \(follow-up frame SEQ "
                                            rf"{1 + shift}, the request asked for frame 1\) after 2 attempt"):
        asyncio.run(_read(shift))


def test_a_late_follow_up_frame_of_the_previous_request_is_skipped_and_ours_is_joined():
    # no retry to spend: the late frame must not end the attempt
    value, raw = asyncio.run(_read(0, retries=0, stale_first=True))
    assert value == FIRST + SECOND
    assert [codec.decode(answer).control for _, answer in raw] == [0xB1, 0x92]


def test_a_follow_up_answer_without_a_sequence_number_is_refused():
    # DI 01010101: the identifier's last byte equals the SEQ asked for (1), yet it is no SEQ
    with pytest.raises(AnswerRefused, match=r"reading DI 01010101: answer refused \(follow-up answer without a "
                                            r"SEQ byte, the request asked for frame 1\) after 2 attempt"):
        asyncio.run(_read(0, "01010101", no_seq=True))
