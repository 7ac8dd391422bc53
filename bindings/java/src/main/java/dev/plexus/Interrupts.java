package dev.plexus;

import com.sun.jna.Memory;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Waits that cannot be sliced, made interruptible: a C {@code _cancellable} call
 * (plexus_service_call_cancellable, plexus_queue_push_many_cancellable) waits in one
 * piece with a cancel word, and one daemon watcher thread sets the word once the waiting
 * thread is interrupted (the C call reads its word every 10 ms and ends as a timeout
 * does). A service call made in slices would withdraw its request at each slice; a batch
 * push made in slices would let other producers' values in between its slices.
 */
final class Interrupts {
  private Interrupts() {}

  /** A C {@code _cancellable} call, given its cancel word; returns its status. */
  @FunctionalInterface
  interface Cancellable {
    int call(Memory cancel);
  }

  /**
   * The status of a cancellable call, and whether it ended because this thread was
   * interrupted (its status is then TIMEOUT, and the thread's interrupt status was
   * cleared, as a thrown InterruptedException clears it).
   */
  record Outcome(int status, boolean interrupted) {}

  /**
   * Runs {@code call} with a cancel word that the watcher sets once this thread is
   * interrupted. Throws InterruptedException, without calling, if the thread is
   * interrupted already. A call that succeeded is reported as such even if the thread
   * was interrupted meanwhile (its interrupt status then stays set for the next call).
   */
  static Outcome run(Cancellable call) throws InterruptedException {
    if (Thread.interrupted()) throw new InterruptedException();
    Memory cancel = Lib.zeroed(4);
    Thread me = Thread.currentThread();
    Watcher.CALLS.put(me, cancel);
    Watcher.wake();
    int st;
    try {
      st = call.call(cancel);
    } finally {
      Watcher.CALLS.remove(me, cancel);
    }
    boolean interrupted = st == Lib.TIMEOUT && cancel.getInt(0) != 0;
    if (interrupted) Thread.interrupted();
    return new Outcome(st, interrupted);
  }

  /**
   * One daemon thread that, while cancellable calls wait, checks every 10 ms whether
   * their threads were interrupted, and sets their cancel words. It ends after a second
   * without calls, and starts again with the next one.
   */
  static final class Watcher {
    static final Map<Thread, Memory> CALLS = new ConcurrentHashMap<>();
    private static Thread thread;

    private Watcher() {}

    static synchronized void wake() {
      if (thread != null) return;
      thread = new Thread(Watcher::run, "plexus-interrupts");
      thread.setDaemon(true);
      thread.start();
    }

    private static void run() {
      int idle = 0;
      while (true) {
        if (CALLS.isEmpty()) {
          if (++idle >= 100) {
            synchronized (Watcher.class) {
              // wake() registers its call before it looks at the thread: under this
              // lock, an empty table means no call can be left unwatched.
              if (CALLS.isEmpty()) {
                thread = null;
                return;
              }
            }
          }
        } else {
          idle = 0;
          CALLS.forEach((t, word) -> {
            if (t.isInterrupted()) word.setInt(0, 1);
          });
        }
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          synchronized (Watcher.class) {
            thread = null;
          }
          return;
        }
      }
    }
  }
}
