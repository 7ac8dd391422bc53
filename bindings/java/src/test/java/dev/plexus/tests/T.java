package dev.plexus.tests;

import dev.plexus.Region;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

/** Assertions and regions for the tests. */
final class T {
  private T() {}

  private static final AtomicInteger COUNT = new AtomicInteger();

  /** A region name no other test or test run uses. */
  static String unique(String tag) {
    return "javatest-" + tag + "-" + ProcessHandle.current().pid() + "-" + COUNT.incrementAndGet();
  }

  @FunctionalInterface
  interface WithRegion {
    void run(Region r, String name) throws Exception;
  }

  /** Runs {@code body} on a fresh 4 MiB region, then closes and removes it. */
  static void withRegion(String tag, WithRegion body) throws Exception {
    String name = unique(tag);
    Region r = Region.open(name, new Region.Options().mode(dev.plexus.OpenMode.RECREATE).size(4 << 20));
    try {
      body.run(r, name);
    } finally {
      r.close();
      Region.remove(name);
    }
  }

  static void check(boolean ok, String what) {
    if (!ok) throw new AssertionError(what);
  }

  static void eq(Object want, Object got) {
    boolean same =
        want instanceof byte[] && got instanceof byte[]
            ? Arrays.equals((byte[]) want, (byte[]) got)
            : Objects.equals(want, got);
    if (!same) throw new AssertionError("expected " + show(want) + ", got " + show(got));
  }

  static String show(Object v) {
    if (v == null) return "null";
    if (v instanceof byte[]) return "byte[]" + Arrays.toString((byte[]) v);
    return v + " (" + v.getClass().getSimpleName() + ")";
  }

  @FunctionalInterface
  interface Body {
    void run() throws Exception;
  }

  /** Runs {@code body} and checks that it throws a {@code type}; returns it. */
  static <E extends Throwable> E throwsA(Class<E> type, Body body) throws Exception {
    try {
      body.run();
    } catch (Throwable e) {
      if (type.isInstance(e)) return type.cast(e);
      throw new AssertionError("expected " + type.getName() + ", got " + e, e);
    }
    throw new AssertionError("expected " + type.getName() + ", nothing was thrown");
  }
}
