package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Barrier;
import dev.plexus.Mutex;
import dev.plexus.PlexusException;
import dev.plexus.Semaphore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

final class LockTests {
  static final Duration SHORT = Duration.ofMillis(20);

  /** Runs {@code body} on another thread and returns what it returned or threw. */
  static Object onThread(T.Body body) throws InterruptedException {
    AtomicReference<Object> out = new AtomicReference<>("ok");
    Thread t = new Thread(() -> {
      try {
        body.run();
      } catch (Throwable e) {
        out.set(e);
      }
    });
    t.start();
    t.join();
    return out.get();
  }

  static void testMutex() throws Exception {
    withRegion("mutex", (r, name) -> {
      Mutex m = r.mutex("m");
      check(!m.isLocked(), "free");
      m.lock();
      check(m.isLocked(), "locked");
      throwsA(PlexusException.InvalidArgument.class, () -> m.tryLock());
      AtomicReference<Boolean> other = new AtomicReference<>();
      eq("ok", onThread(() -> other.set(m.tryLock())));
      eq(false, other.get());
      eq("ok", onThread(() -> other.set(m.tryLock(10, TimeUnit.MILLISECONDS))));
      eq(false, other.get());
      Object e = onThread(() -> m.acquire(SHORT));
      check(e instanceof PlexusException.Timeout, String.valueOf(e));
      e = onThread(() -> m.unlock());
      check(e instanceof PlexusException.InvalidArgument, String.valueOf(e));
      m.unlock();
      check(m.tryLock(SHORT), "tryLock");
      m.unlock();
      eq(false, m.acquire(null));
      m.unlock();
      throwsA(UnsupportedOperationException.class, () -> m.newCondition());
      // Mutual exclusion between threads.
      int[] counter = {0};
      List<Thread> ts = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        ts.add(new Thread(() -> {
          for (int k = 0; k < 500; k++) {
            m.lock();
            try {
              counter[0]++;
            } finally {
              m.unlock();
            }
          }
        }));
      }
      for (Thread t : ts) t.start();
      for (Thread t : ts) t.join();
      eq(2000, counter[0]);
    });
  }

  static void testBarrier() throws Exception {
    withRegion("barrier", (r, name) -> {
      Barrier b = r.barrier("b", 3);
      eq(3, b.parties());
      throwsA(PlexusException.Timeout.class, () -> b.await(SHORT));
      AtomicInteger lasts = new AtomicInteger();
      List<Thread> ts = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        ts.add(new Thread(() -> {
          try {
            for (int round = 0; round < 5; round++) if (b.await(Duration.ofSeconds(30))) lasts.incrementAndGet();
          } catch (InterruptedException e) {
            throw new RuntimeException(e);
          }
        }));
      }
      for (Thread t : ts) t.start();
      for (Thread t : ts) t.join();
      eq(5, lasts.get());
    });
  }

  static void testSemaphore() throws Exception {
    withRegion("semaphore", (r, name) -> {
      Semaphore s = r.semaphore("s", 2);
      eq(2, s.permits());
      eq(2, s.availablePermits());
      s.acquire();
      check(s.tryAcquire(), "second permit");
      check(!s.tryAcquire(), "none left");
      check(!s.tryAcquire(SHORT), "none left");
      eq(0, s.availablePermits());
      eq(2, s.held());
      s.release();
      s.release();
      eq(0, s.held());
      throwsA(PlexusException.InvalidArgument.class, () -> s.release());
      throwsA(PlexusException.NotFound.class, () -> r.semaphore("absent", 0));
    });
  }
}
