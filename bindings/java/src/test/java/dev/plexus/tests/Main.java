package dev.plexus.tests;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The binding's test runner (no test framework needed): runs every static method named
 * {@code test...} of the test classes (or of the classes named as arguments), each on
 * its own, and prints one line per test and a summary. Exit status 1 when any failed or
 * none ran.
 */
public final class Main {
  static final Class<?>[] CLASSES = {
    RegionTests.class, ValueTests.class, ArrayTests.class, MapTests.class, QueueTests.class,
    LockTests.class, BusTests.class, ServiceTests.class, TypedArrayTests.class,
    InterruptTests.class, RemoteTests.class,
  };

  public static void main(String[] args) throws Exception {
    List<Class<?>> classes = new ArrayList<>();
    if (args.length == 0) {
      classes.addAll(Arrays.asList(CLASSES));
    } else {
      for (String a : args) classes.add(Class.forName("dev.plexus.tests." + a));
    }
    int passed = 0, failed = 0;
    List<String> failures = new ArrayList<>();
    for (Class<?> c : classes) {
      Method[] methods = c.getDeclaredMethods();
      Arrays.sort(methods, Comparator.comparing(Method::getName));
      for (Method m : methods) {
        if (!m.getName().startsWith("test") || !Modifier.isStatic(m.getModifiers())) continue;
        String name = c.getSimpleName() + "." + m.getName();
        try {
          m.invoke(null);
          passed++;
          System.out.println("ok   " + name);
        } catch (InvocationTargetException e) {
          failed++;
          failures.add(name);
          System.out.println("FAIL " + name);
          e.getCause().printStackTrace(System.out);
        }
        // A test that leaves its thread interrupted must not fail the next one.
        Thread.interrupted();
      }
    }
    System.out.println("java tests: " + passed + " passed, " + failed + " failed" + (failures.isEmpty() ? "" : " " + failures));
    System.exit(failed == 0 && passed > 0 ? 0 : 1);
  }
}
