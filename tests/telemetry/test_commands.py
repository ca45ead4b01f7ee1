"""Signed operator commands: only a valid signature, a fresh timestamp and a new nonce get through."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telemetry.commands import COMMANDS, Command, CommandError, Reject, Verifier, sign
from tests.helpers import FUZZ_EXAMPLES

SECRET = b"operator-shared-secret-0123456789"
NOW = 1_800_000_000_000


def test_a_signed_fresh_command_is_accepted_once() -> None:
    v = Verifier(SECRET)
    raw = sign("pause", SECRET, NOW, {"reason": "maintenance"}, nonce="n-0001-abcdef")
    cmd = v.verify(raw, NOW + 1_000)
    assert cmd == Command("pause", {"reason": "maintenance"}, NOW, "n-0001-abcdef")
    with pytest.raises(CommandError) as exc:
        v.verify(raw, NOW + 2_000)
    assert exc.value.code is Reject.REPLAYED_NONCE


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"{not json", Reject.MALFORMED_JSON),
        (b"[1, 2]", Reject.MALFORMED_JSON),
        (b"\xff\xfe", Reject.MALFORMED_JSON),
        (json.dumps({"cmd": "halt"}).encode(), Reject.UNKNOWN_FIELDS),
        (json.dumps(json.loads(sign("halt", SECRET, NOW)) | {"extra": 1}).encode(), Reject.UNKNOWN_FIELDS),
        (json.dumps(json.loads(sign("halt", SECRET, NOW)) | {"ts": "now"}).encode(), Reject.BAD_FIELD),
        (json.dumps(json.loads(sign("halt", SECRET, NOW)) | {"cmd": "resume"}).encode(), Reject.BAD_SIGNATURE),
        (sign("halt", b"someone-elses-secret-0123456789", NOW), Reject.BAD_SIGNATURE),
        (sign("selfdestruct", SECRET, NOW), Reject.UNKNOWN_COMMAND),
        (sign("halt", SECRET, NOW - 31_000), Reject.STALE_TIMESTAMP),
        (sign("halt", SECRET, NOW + 31_000), Reject.STALE_TIMESTAMP),
    ],
)
def test_bad_commands_are_rejected_with_a_code(raw: bytes, code: Reject) -> None:
    with pytest.raises(CommandError) as exc:
        Verifier(SECRET).verify(raw, NOW)
    assert exc.value.code is code


def test_a_rejected_command_does_not_burn_its_nonce() -> None:
    v = Verifier(SECRET)
    forged = json.dumps(json.loads(sign("halt", SECRET, NOW, nonce="n-0002-abcdef")) | {"sig": "00"}).encode()
    with pytest.raises(CommandError):
        v.verify(forged, NOW)
    assert v.verify(sign("halt", SECRET, NOW, nonce="n-0002-abcdef"), NOW).cmd == "halt"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    body=st.dictionaries(st.sampled_from(["cmd", "args", "ts", "nonce", "sig", "x"]), json_values, max_size=6),
    junk=st.binary(max_size=64),
    use_junk=st.booleans(),
)
def test_fuzz_no_crash_and_no_action_without_a_valid_signature(body, junk, use_junk) -> None:
    raw = junk if use_junk else json.dumps(body).encode()
    try:
        Verifier(SECRET).verify(raw, NOW)
    except CommandError as exc:
        assert isinstance(exc.code, Reject)
    else:  # acceptance is only possible with the secret: random input never forges an HMAC
        raise AssertionError(f"accepted unsigned input: {raw!r}")


@settings(max_examples=300, deadline=None)
@given(
    cmd=st.sampled_from(COMMANDS),
    args=st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    skew=st.integers(min_value=-30_000, max_value=30_000),
)
def test_every_valid_command_round_trips(cmd, args, skew) -> None:
    assert Verifier(SECRET).verify(sign(cmd, SECRET, NOW + skew, args), NOW).cmd == cmd


@pytest.mark.parametrize(
    "addressee, raw, code",
    [
        ("b1", sign("halt", SECRET, NOW, to="b2"), Reject.WRONG_ADDRESSEE),  # signed for another bot
        ("b1", sign("halt", SECRET, NOW, to="firm"), Reject.WRONG_ADDRESSEE),  # a firm command on a bot's topic
        ("firm", sign("halt", SECRET, NOW, to="b1"), Reject.WRONG_ADDRESSEE),  # a bot's command sent to the firm
        ("firm", sign("halt", SECRET, NOW), Reject.WRONG_ADDRESSEE),  # the firm's topic wants an addressee
        ("firm", sign("reload-rules", SECRET, NOW, to="firm"), Reject.NOT_FOR_FIRM),
        ("firm", sign("reduce", SECRET, NOW, {"fraction": 0.5}, to="firm"), Reject.NOT_FOR_FIRM),
        (
            "b1",
            json.dumps(json.loads(sign("halt", SECRET, NOW, to="b1")) | {"to": "b2"}).encode(),
            Reject.BAD_SIGNATURE,
        ),
        ("b1", json.dumps(json.loads(sign("halt", SECRET, NOW)) | {"to": ["b1"]}).encode(), Reject.BAD_FIELD),
    ],
)
def test_a_command_acts_only_where_it_is_addressed(addressee: str, raw: bytes, code: Reject) -> None:
    with pytest.raises(CommandError) as exc:
        Verifier(SECRET, addressee=addressee).verify(raw, NOW)
    assert exc.value.code is code


def test_addressed_commands_and_unaddressed_bot_commands_are_accepted() -> None:
    assert Verifier(SECRET, addressee="b1").verify(sign("halt", SECRET, NOW, to="b1"), NOW).cmd == "halt"
    assert Verifier(SECRET, addressee="b1").verify(sign("pause", SECRET, NOW), NOW).cmd == "pause"
    assert Verifier(SECRET, addressee="firm").verify(sign("flatten", SECRET, NOW, to="firm"), NOW).cmd == "flatten"
