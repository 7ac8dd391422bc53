package dev.plexus.tests;

import dev.plexus.Mutex;
import dev.plexus.PlexusException;
import dev.plexus.Region;
import dev.plexus.SharedArray;
import dev.plexus.Service;
import dev.plexus.SharedQueue;
import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;

/**
 * The Java processes of the cross-runtime tests (tests/java.rs starts them beside C and
 * C++ programs of ffi-tests/ on one region):
 *
 * <pre>
 * handshake-read REGION COUNT    reads COUNT values from element 0 of array "handshake"
 *                                with readFE: INT i, or "msg-i" when i % 3 == 2 (the
 *                                format of ffi-tests/handshake_writer.c)
 * handshake-write REGION COUNT   creates the region and array "handshake", writes the
 *                                same values with writeEF (for ffi-tests/handshake_reader.cpp),
 *                                and waits until the last was taken
 * queue-produce REGION ID COUNT  pushes (ID &lt;&lt; 32 | seq) for seq 0..COUNT-1 to queue "q"
 *                                (the int format of ffi-tests/queue_worker.c)
 * queue-consume REGION FILE      takes from queue "q" until it is shut down and drained,
 *                                checks each producer's values come in order, and appends
 *                                a 16-byte record (id, seq) per value to FILE, as
 *                                queue_worker consume does (so queue_worker verify reads it)
 * faa REGION COUNT               adds 1 to element 0 of array "counter" COUNT times
 * hold-mutex REGION              locks mutex "m", takes semaphore "s"'s permit, prints
 *                                HOLDING and waits (to be killed)
 * take-dead-mutex REGION         acquires "m" (its owner must have died) and "s"
 * take-request REGION            takes a request of service "svc", prints TOOK, waits
 * call REGION                    calls "svc" and expects PlexusException.OwnerDead
 * </pre>
 *
 * Prints "OK ..." and exits 0 on success; exits 1 with a message otherwise.
 */
public final class Roles {
  static final Duration WAIT = Duration.ofSeconds(30);

  public static void main(String[] args) throws Exception {
    try {
      run(args);
    } catch (Throwable e) {
      System.err.println("java role " + String.join(" ", args) + ": " + e);
      e.printStackTrace();
      System.exit(1);
    }
  }

  static Object handshakeValue(long i) {
    return i % 3 == 2 ? "msg-" + i : (Object) i;
  }

  static void run(String[] args) throws Exception {
    String role = args[0], name = args[1];
    switch (role) {
      case "handshake-read": {
        long count = Long.parseLong(args[2]);
        try (Region r = Region.openExisting(name, WAIT)) {
          r.waitObject("handshake", WAIT);
          SharedArray a = r.array("handshake", 0);
          for (long i = 0; i < count; i++) {
            Object got = a.readFE(0, WAIT);
            if (!handshakeValue(i).equals(got)) throw new AssertionError("value " + i + " is " + got);
          }
        }
        System.out.println("OK handshake-read " + count);
        break;
      }
      case "handshake-write": {
        long count = Long.parseLong(args[2]);
        try (Region r = Region.open(name, new Region.Options().size(1 << 20))) {
          SharedArray a = r.array("handshake", 1);
          for (long i = 0; i < count; i++) a.writeEF(0, handshakeValue(i), WAIT);
          // The reader took the last value once the element is EMPTY again.
          a.writeEF(0, "end", WAIT);
        }
        System.out.println("OK handshake-write " + count);
        break;
      }
      case "queue-produce": {
        long id = Long.parseLong(args[2]), count = Long.parseLong(args[3]);
        try (Region r = Region.openExisting(name, WAIT)) {
          SharedQueue q = r.queue("q", 0);
          for (long seq = 0; seq < count; seq++) q.put(id << 32 | seq);
        }
        System.out.println("OK queue-produce " + count);
        break;
      }
      case "queue-consume": {
        long[] last = new long[1024];
        java.util.Arrays.fill(last, -1);
        long n = 0;
        try (Region r = Region.openExisting(name, WAIT);
            DataOutputStream out = new DataOutputStream(new FileOutputStream(args[2], true))) {
          SharedQueue q = r.queue("q", 0);
          ByteBuffer rec = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
          while (true) {
            Object v;
            try {
              v = q.take();
            } catch (PlexusException.Closed drained) {
              break;
            }
            long x = (Long) v, id = x >>> 32, seq = x & 0xffffffffL;
            if (seq <= last[(int) id]) throw new AssertionError("producer " + id + ": seq " + seq + " after " + last[(int) id]);
            last[(int) id] = seq;
            rec.clear();
            rec.putLong(id).putLong(seq);
            out.write(rec.array());
            n++;
          }
        }
        System.out.println("OK queue-consume " + n);
        break;
      }
      case "faa": {
        long count = Long.parseLong(args[2]);
        try (Region r = Region.openExisting(name, WAIT)) {
          SharedArray a = r.array("counter", 1);
          for (long i = 0; i < count; i++) a.faa(0, 1L);
        }
        System.out.println("OK faa " + count);
        break;
      }
      case "hold-mutex": {
        // Takes the mutex and the semaphore's permit, says so, and waits to be killed.
        Region r = Region.openExisting(name, WAIT);
        r.mutex("m").lock();
        r.semaphore("s", 1).acquire();
        System.out.println("HOLDING");
        Thread.sleep(Long.MAX_VALUE);
        break;
      }
      case "take-dead-mutex": {
        try (Region r = Region.openExisting(name, WAIT)) {
          Mutex m = r.mutex("m");
          boolean ownerDied = m.acquire(WAIT);
          m.unlock();
          if (!ownerDied) throw new AssertionError("the mutex did not report its dead owner");
          // The dead holder's permit comes back.
          if (!r.semaphore("s", 1).tryAcquire(WAIT)) throw new AssertionError("the dead holder's permit did not come back");
        }
        System.out.println("OK owner died");
        break;
      }
      case "take-request": {
        // Takes one request of service "svc", says so, and waits to be killed.
        Region r = Region.openExisting(name, WAIT);
        r.service("svc", 4).next(WAIT);
        System.out.println("TOOK");
        Thread.sleep(Long.MAX_VALUE);
        break;
      }
      case "call": {
        try (Region r = Region.openExisting(name, WAIT)) {
          Service s = r.service("svc", 4);
          try {
            s.call("for a server that dies", WAIT);
            throw new AssertionError("the call returned");
          } catch (PlexusException.OwnerDead expected) {
            System.out.println("OK call: " + expected.code());
          }
        }
        break;
      }
      default:
        throw new IllegalArgumentException("unknown role " + role);
    }
  }
}
