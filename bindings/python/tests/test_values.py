"""Every value type round-trips through arrays, maps, queues and buses, and the
conversions refuse what plexus cannot hold."""

from __future__ import annotations

import math
import unittest

from _support import RegionTest, plexus

from plexus import _msgpack

SAMPLES = [
    plexus.UNDEFINED,
    None,
    True,
    False,
    0,
    1,
    -1,
    2**63 - 1,
    -(2**63),
    2**40,
    0.0,
    -2.5,
    1e300,
    math.inf,
    -math.inf,
    "",
    "hello",
    "naïve ☃ 𝄞",
    "nul\0inside",
    "x" * 100_000,
    b"",
    b"\x00\x01\xff",
    bytes(range(256)) * 400,
    [],
    {},
    [1, "two", 3.0, None, True, b"bin", [], {}],
    {"a": 1, "b": [1, 2, {"c": None}], "d": b"\x00", "e": -(2**63), "f": 2**64 - 1},
    {"nested": {"deeper": {"deepest": ["ok", 1.5, False]}}},
]


def same(a: object, b: object) -> bool:
    """Equality that also tells True from 1, 1.0 from 1 and matches types exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[index]
    return a == b or a is b


class RoundTrip(RegionTest):
    size = 16 << 20

    def check(self, written: object, read: object) -> None:
        self.assertTrue(same(written, read), f"wrote {written!r:.200}, read {read!r:.200}")

    def test_array(self) -> None:
        a = self.region.array("a", len(SAMPLES))
        for i, v in enumerate(SAMPLES):
            a[i] = v
        for i, v in enumerate(SAMPLES):
            self.check(v, a[i])
            self.check(v, a.read(i))
            self.check(v, a.read_ff(i) if a.is_full(i) else a.read(i))

    def test_array_synchronized(self) -> None:
        a = self.region.array("a", 1)
        for v in SAMPLES:
            a.write_ef(0, v, timeout=1)
            self.check(v, a.read_fe(0, timeout=1))

    def test_map(self) -> None:
        m = self.region.map("m", 64)
        for i, v in enumerate(SAMPLES):
            m[f"k{i}"] = v
        for i, v in enumerate(SAMPLES):
            self.check(v, m.read(f"k{i}"))
        for i, v in enumerate(SAMPLES):
            m.write_xf(f"f{i}", v)
            self.check(v, m.read_fe(f"f{i}", timeout=1))

    def test_queue(self) -> None:
        q = self.region.queue("q", len(SAMPLES))
        for v in SAMPLES:
            q.push(v, timeout=0)
        for v in SAMPLES:
            self.check(v, q.pop(timeout=0))

    def test_bus(self) -> None:
        b = self.region.bus("b", 64)
        with b.subscribe() as sub:
            seqs = [b.publish(v) for v in SAMPLES]
            for seq, v in zip(seqs, SAMPLES):
                msg = sub.next(timeout=1)
                self.assertEqual(msg.seq, seq)
                self.check(v, msg.value)

    def test_nan(self) -> None:
        a = self.region.array("a", 2)
        a[0] = math.nan
        self.assertTrue(math.isnan(a[0]))
        a[1] = [math.nan]
        self.assertTrue(math.isnan(a[1][0]))

    def test_other_python_types(self) -> None:
        a = self.region.array("a", 1)
        for written, expected in [
            ((1, (2, 3)), [1, [2, 3]]),
            (bytearray(b"ab"), b"ab"),
            (memoryview(b"cd"), b"cd"),
            ({"t": (1,)}, {"t": [1]}),
            (plexus.ExtType(5, b"xyz"), plexus.ExtType(5, b"xyz")),
        ]:
            a[0] = written
            self.check(expected, a[0])

        class MyInt(int):
            pass

        a[0] = MyInt(7)
        self.check(7, a[0])

    def test_int_range(self) -> None:
        a = self.region.array("a", 1)
        for bad in (2**63, -(2**63) - 1, 10**30):
            with self.assertRaises(OverflowError):
                a[0] = bad
        with self.assertRaises(OverflowError):
            a[0] = [2**64]
        a[0] = [2**64 - 1]  # inside an object, MessagePack holds uint64
        self.assertEqual(a[0], [2**64 - 1])

    def test_unsupported(self) -> None:
        a = self.region.array("a", 1)
        for bad in (object(), {1, 2}, 1j, [object()]):
            with self.assertRaises(TypeError):
                a[0] = bad
        with self.assertRaises(TypeError):
            a[0] = {1: "int keys are not JSON"}
        cyclic: list = []
        cyclic.append(cyclic)
        with self.assertRaises(ValueError):
            a[0] = cyclic
        with self.assertRaises(UnicodeEncodeError):
            a[0] = "lone surrogate \ud800"
        self.assertIs(a[0], plexus.UNDEFINED)  # nothing was stored

    def test_undefined_sentinel(self) -> None:
        import copy
        import pickle

        u = plexus.UNDEFINED
        self.assertFalse(u)
        self.assertEqual(repr(u), "plexus.UNDEFINED")
        self.assertIs(type(u)(), u)
        self.assertIs(pickle.loads(pickle.dumps(u)), u)
        self.assertIs(copy.deepcopy(u), u)
        self.assertIsNot(u, None)


class Json(unittest.TestCase):
    def test_to_json(self) -> None:
        self.assertEqual(plexus.to_json(None), "null")
        self.assertEqual(plexus.to_json(plexus.UNDEFINED), "null")
        self.assertEqual(plexus.to_json(True), "true")
        self.assertEqual(plexus.to_json(-5), "-5")
        self.assertEqual(plexus.to_json('a"b'), '"a\\"b"')
        self.assertEqual(plexus.to_json(b"\x01\x02"), "[1,2]")
        self.assertEqual(plexus.to_json({"b": [1, 2.5], "a": None}), '{"b":[1,2.5],"a":null}')
        self.assertEqual(plexus.to_json(math.inf), "null")

    # plexus_value_to_json renders bytes inside an OBJECT as an array of numbers, like a
    # top-level BYTES value (it used to fail with "invalid type: byte array").
    def test_to_json_bytes_inside_object(self) -> None:
        self.assertEqual(plexus.to_json({"x": b"\x05"}), '{"x":[5]}')

    def test_from_json(self) -> None:
        self.assertEqual(
            plexus.from_json('{"a": [1, 2.5, "x", null, true]}'), {"a": [1, 2.5, "x", None, True]}
        )
        self.assertIs(plexus.from_json("null"), None)
        self.assertEqual(plexus.from_json("9223372036854775807"), 2**63 - 1)
        self.assertEqual(plexus.from_json('"s"'), "s")
        with self.assertRaises(plexus.InvalidArgument):
            plexus.from_json("{bad")

    def test_same_value(self) -> None:
        self.assertTrue(plexus.same_value(1, 1))
        self.assertTrue(plexus.same_value(1.0, 1.0))
        self.assertFalse(plexus.same_value(True, 1))
        self.assertFalse(plexus.same_value(1, "1"))
        self.assertFalse(plexus.same_value(math.nan, math.nan))
        self.assertTrue(plexus.same_value({"a": [1]}, {"a": [1]}))
        self.assertTrue(plexus.same_value(plexus.UNDEFINED, plexus.UNDEFINED))
        self.assertFalse(plexus.same_value(None, plexus.UNDEFINED))


class MsgPack(unittest.TestCase):
    def test_every_format_decodes(self) -> None:
        cases = {
            b"\x7f": 127,
            b"\xe0": -32,
            b"\xcc\xff": 255,
            b"\xcd\x01\x00": 256,
            b"\xce\x00\x01\x00\x00": 65536,
            b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00": 2**32,
            b"\xd0\x80": -128,
            b"\xd1\x80\x00": -32768,
            b"\xd2\x80\x00\x00\x00": -(2**31),
            b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00": -(2**63),
            b"\xca\x3f\xc0\x00\x00": 1.5,
            b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00": 1.5,
            b"\xa1a": "a",
            b"\xd9\x01b": "b",
            b"\xda\x00\x01c": "c",
            b"\xdb\x00\x00\x00\x01d": "d",
            b"\xc4\x01\x00": b"\x00",
            b"\xc5\x00\x01\x01": b"\x01",
            b"\xc6\x00\x00\x00\x01\x02": b"\x02",
            b"\x91\x01": [1],
            b"\xdc\x00\x01\x02": [2],
            b"\xdd\x00\x00\x00\x01\x03": [3],
            b"\x81\xa1k\x01": {"k": 1},
            b"\xde\x00\x01\xa1k\x02": {"k": 2},
            b"\xdf\x00\x00\x00\x01\xa1k\x03": {"k": 3},
            b"\x81\x01\xa1v": {1: "v"},
            b"\xd4\x01\x00": plexus.ExtType(1, b"\x00"),
            b"\xc7\x03\x02abc": plexus.ExtType(2, b"abc"),
            b"\xc0": None,
            b"\xc2": False,
            b"\xc3": True,
        }
        for raw, expected in cases.items():
            self.assertTrue(same(_msgpack.unpackb(raw), expected), raw)

    def test_encode_round_trip_and_sizes(self) -> None:
        for v in [
            0,
            127,
            128,
            255,
            256,
            65535,
            65536,
            2**32,
            2**64 - 1,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32768,
            -32769,
            -(2**31) - 1,
            -(2**63),
            "a" * 31,
            "a" * 32,
            "a" * 300,
            "a" * 70000,
            b"x" * 300,
            b"x" * 70000,
            list(range(16)),
            list(range(70000)),
            {str(i): i for i in range(16)},
            {str(i): i for i in range(70000)},
        ]:
            self.assertTrue(same(_msgpack.unpackb(_msgpack.packb(v)), v))
        self.assertEqual(_msgpack.packb(5), b"\x05")
        self.assertEqual(_msgpack.packb(-1), b"\xff")
        self.assertEqual(_msgpack.packb({"a": [True, None]}), b"\x81\xa1a\x92\xc3\xc0")

    def test_malformed(self) -> None:
        for raw in (b"", b"\xc1", b"\x92\x01", b"\xa5ab", b"\x01\x02"):
            with self.assertRaises(ValueError):
                _msgpack.unpackb(raw)

    def test_library_accepts_what_we_encode(self) -> None:
        # The library validates OBJECT MessagePack on store and converts it to JSON.
        big = {"list": list(range(1000)), "s": "y" * 70000, "neg": [-1, -200, -70000, -(2**40)]}
        self.assertEqual(plexus.from_json(plexus.to_json(big)), big)


if __name__ == "__main__":
    unittest.main()
