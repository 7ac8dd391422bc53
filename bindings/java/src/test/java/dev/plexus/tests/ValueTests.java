package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Plexus;
import dev.plexus.PlexusException;
import dev.plexus.SharedArray;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class ValueTests {
  static void testEveryTypeRoundTrips() throws Exception {
    withRegion("values", (r, name) -> {
      SharedArray a = r.array("a", 1);
      Map<String, Object> nested = new LinkedHashMap<>();
      nested.put("int", 1L);
      nested.put("float", 2.0);
      nested.put("neg", -7L);
      nested.put("str", "ü €");
      nested.put("list", new ArrayList<>(Arrays.asList(1L, 2.5, "x", null, true, false)));
      nested.put("empty", new LinkedHashMap<>());
      nested.put("deep", new LinkedHashMap<>(Map.of("k", new ArrayList<>(List.of(new LinkedHashMap<>(Map.of("z", 0L)))))));
      Object[] values = {
        null, true, false, 0L, 1L, -1L, Long.MAX_VALUE, Long.MIN_VALUE, 0.5, -0.0, Double.MAX_VALUE,
        Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, "", "hello", "ü € 😀", "nul\0inside",
        new byte[0], new byte[] {0, 1, (byte) 255}, nested, new ArrayList<>(List.of(1L, "two")),
        Plexus.UNDEFINED,
      };
      for (Object v : values) {
        a.write(0, v);
        eq(v, a.read(0));
      }
      a.write(0, Double.NaN);
      check(Double.isNaN((Double) a.read(0)), "NaN");
      // Narrower Java numbers are stored as INT and FLOAT.
      a.write(0, 5);
      eq(5L, a.read(0));
      a.write(0, (short) -3);
      eq(-3L, a.read(0));
      a.write(0, 1.5f);
      eq(1.5, a.read(0));
      a.write(0, BigInteger.valueOf(-9));
      eq(-9L, a.read(0));
      a.write(0, new Object[] {1L, "a"});
      eq(List.of(1L, "a"), a.read(0));
      // Integers beyond 64 bits inside an object come back as BigInteger.
      BigInteger big = BigInteger.ONE.shiftLeft(63);
      a.write(0, List.of(big));
      Object got = ((List<?>) a.read(0)).get(0);
      check(got.equals(big) || got.equals(big.doubleValue()), "2^63 came back as " + show(got));
    });
  }

  static void testBadValuesAreRefused() throws Exception {
    withRegion("badvalues", (r, name) -> {
      SharedArray a = r.array("a", 1);
      a.write(0, "kept");
      throwsA(IllegalArgumentException.class, () -> a.write(0, new Object()));
      throwsA(IllegalArgumentException.class, () -> a.write(0, BigInteger.ONE.shiftLeft(64)));
      throwsA(IllegalArgumentException.class, () -> a.write(0, List.of(Double.NaN)));
      throwsA(IllegalArgumentException.class, () -> a.write(0, Map.of(1, "non-string key")));
      throwsA(IllegalArgumentException.class, () -> a.write(0, List.of(Plexus.UNDEFINED)));
      throwsA(IllegalArgumentException.class, () -> a.write(0, List.of(new byte[] {1})));
      // Nothing stored was lost.
      eq("kept", a.read(0));
    });
  }

  static void testCasComparesTypeAndValue() throws Exception {
    withRegion("cas", (r, name) -> {
      SharedArray a = r.array("a", 1);
      a.write(0, 2L);
      eq(2L, a.cas(0, 2.0, 3L));
      eq(2L, a.read(0));
      eq(2L, a.cas(0, 2L, "three"));
      eq("three", a.read(0));
      eq("three", a.cas(0, "three", Map.of("n", 3L)));
      eq(Map.of("n", 3L), a.cas(0, Map.of("n", 3L), null));
      eq(null, a.read(0));
      a.write(0, List.of("list"));
      PlexusException e = throwsA(PlexusException.TypeMismatch.class, () -> a.faa(0, 1L));
      eq(List.of("list"), a.read(0));
      a.write(0, "text");
      eq("text", a.faa(0, 1L));
      eq("text1", a.read(0));
      eq("PLEXUS_E_TYPE_MISMATCH", e.code());
      eq(104, e.status());
    });
  }
}
