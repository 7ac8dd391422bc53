package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.LongByReference;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A bounded FIFO queue (or, opened with {@link Plexus#LIFO}, a stack) of values in a
 * region, shaped like {@link java.util.concurrent.BlockingQueue}: {@link #put} and
 * {@link #take} wait without limit, {@link #offer(Object, long, TimeUnit)} and
 * {@link #poll(long, TimeUnit)} wait at most a timeout and report it by their result.
 * Unlike a BlockingQueue it carries null (a NULL value): {@code poll} cannot tell a
 * null taken from none, so a queue of nulls uses {@link #take(Duration)}, which throws
 * {@link PlexusException.Timeout} instead.
 *
 * <p>{@link #shutdown()} ends it for every process: puts throw
 * {@link PlexusException.Closed}, takes drain what is left, then throw it.
 */
public final class SharedQueue extends Handle {
  SharedQueue(Region region, String name, long id) {
    super(region, name, "queue", id);
  }

  private int push(Object value, long timeoutNs) throws InterruptedException {
    try (Values.In v = new Values.In(value)) {
      return Lib.sliced(timeoutNs, t -> Lib.call("queue_push", id, v.mem, t));
    }
  }

  /** Appends {@code value}, waiting while the queue is full, without limit. */
  public void put(Object value) throws InterruptedException {
    Lib.ok(push(value, Lib.FOREVER));
  }

  /** Appends {@code value} if there is room now; false if the queue is full. */
  public boolean offer(Object value) {
    try (Values.In v = new Values.In(value)) {
      return offered(Lib.call("queue_push", id, v.mem, 0L));
    }
  }

  /** Appends {@code value}, waiting at most {@code timeout} for room; false if none came. */
  public boolean offer(Object value, Duration timeout) throws InterruptedException {
    return offered(push(value, Lib.nanos(timeout)));
  }

  /** {@link #offer(Object, Duration)} with a {@link TimeUnit}, as BlockingQueue has it. */
  public boolean offer(Object value, long timeout, TimeUnit unit) throws InterruptedException {
    return offer(value, Duration.ofNanos(unit.toNanos(timeout)));
  }

  private static boolean offered(int st) {
    if (st == Lib.TIMEOUT) return false;
    Lib.ok(st);
    return true;
  }

  private int pop(Memory out, long timeoutNs) throws InterruptedException {
    return Lib.sliced(timeoutNs, t -> Lib.call("queue_pop", id, out, t));
  }

  /** Takes the oldest value (the newest for a stack), waiting while empty, without limit. */
  public Object take() throws InterruptedException {
    Memory out = Values.out();
    Lib.ok(pop(out, Lib.FOREVER));
    return Values.take(out);
  }

  /** Takes a value, waiting at most {@code timeout} ({@link PlexusException.Timeout} then). */
  public Object take(Duration timeout) throws InterruptedException {
    Memory out = Values.out();
    Lib.ok(pop(out, Lib.nanos(timeout)));
    return Values.take(out);
  }

  /** Takes a value if there is one now; null if the queue is empty. */
  public Object poll() {
    Memory out = Values.out();
    int st = Lib.call("queue_pop", id, out, 0L);
    if (st == Lib.TIMEOUT) return null;
    Lib.ok(st);
    return Values.take(out);
  }

  /** Takes a value, waiting at most {@code timeout}; null if none came. */
  public Object poll(Duration timeout) throws InterruptedException {
    Memory out = Values.out();
    int st = pop(out, Lib.nanos(timeout));
    if (st == Lib.TIMEOUT) return null;
    Lib.ok(st);
    return Values.take(out);
  }

  /** {@link #poll(Duration)} with a {@link TimeUnit}, as BlockingQueue has it. */
  public Object poll(long timeout, TimeUnit unit) throws InterruptedException {
    return poll(Duration.ofNanos(unit.toNanos(timeout)));
  }

  /**
   * Appends the values in order with one call, waiting at most {@code timeout} for room
   * (null: without limit; zero: only what fits now); returns how many were appended: all
   * of them, or, when the time ran out, the first ones that went in. In a FIFO queue the
   * values stay together, also while the call waits for room: no other producer's value
   * comes between two of them (it waits in one C call, which a watcher thread cancels
   * when this thread is interrupted: plexus_queue_push_many_cancellable). A stack takes
   * each part that fits in one step.
   *
   * <p>Throws {@link Interrupted} (an {@link InterruptedException}) when the thread is
   * interrupted while it waits, within about 20 ms: the values that went in stay in the
   * queue, and its {@link Interrupted#pushed()} says how many (the first ones); {@link
   * PlexusException.Closed} when the queue is shut down, {@link PlexusException.NoSpace}
   * when the region's heap cannot hold the next value (in both cases the values before
   * stay in the queue), {@link PlexusException.InvalidArgument} for a value the library
   * refuses (nothing went in).
   */
  public int putAll(List<?> values, Duration timeout) throws InterruptedException {
    int n = values.size();
    long ns = Lib.nanos(timeout);
    // A call that does not wait cannot be interrupted (as offer(e) without a timeout).
    if (ns != 0 && Thread.interrupted()) throw new Interrupted(0, n);
    if (n == 0) return 0;
    try (Values.InBatch batch = new Values.InBatch(values)) {
      Memory all = batch.mem;
      LongByReference pushed = new LongByReference();
      Interrupts.Outcome o = ns == 0
          ? new Interrupts.Outcome(Lib.call("queue_push_many", id, all, (long) n, 0L, pushed), false)
          : Interrupts.run(cancel -> Lib.call("queue_push_many_cancellable", id, all, (long) n, ns, pushed, cancel));
      int done = (int) pushed.getValue();
      if (o.interrupted()) throw new Interrupted(done, n);
      if (o.status() != Lib.TIMEOUT) Lib.ok(o.status());
      return done;
    }
  }

  /**
   * {@link #putAll} was interrupted while it waited for room: the first {@link #pushed()}
   * values went in (and stay in the queue), the others did not. The thread's interrupt
   * status is cleared, as for every InterruptedException.
   */
  public static final class Interrupted extends InterruptedException {
    private static final long serialVersionUID = 1L;
    private final int pushed;

    Interrupted(int pushed, int of) {
      super("interrupted after " + pushed + " of " + of + " values went in");
      this.pushed = pushed;
    }

    /** How many values went in (the first ones). */
    public int pushed() {
      return pushed;
    }
  }

  /**
   * Takes up to {@code max} values in one call into {@code into}, waiting at most
   * {@code timeout} for the first (null: without limit); returns how many it took (0
   * when none came in time).
   */
  public int drainTo(Collection<Object> into, int max, Duration timeout) throws InterruptedException {
    if (max <= 0) return 0;
    Memory out = Lib.zeroed((long) Values.SIZE * max);
    LongByReference popped = new LongByReference();
    int st = Lib.sliced(Lib.nanos(timeout), t -> Lib.call("queue_pop_many", id, out, (long) max, t, popped));
    if (st == Lib.TIMEOUT) return 0;
    Lib.ok(st);
    int n = (int) popped.getValue();
    for (int i = 0; i < n; i++) into.add(Values.take(out, (long) Values.SIZE * i));
    return n;
  }

  /** Takes every value there is now (without waiting) into {@code into}; returns how many. */
  public int drainTo(Collection<Object> into) {
    int total = 0;
    Memory out = Lib.zeroed((long) Values.SIZE * 64);
    LongByReference popped = new LongByReference();
    while (true) {
      int st = Lib.call("queue_pop_many", id, out, 64L, 0L, popped);
      if (st == Lib.TIMEOUT || st == Lib.CLOSED) return total;
      Lib.ok(st);
      int n = (int) popped.getValue();
      for (int i = 0; i < n; i++) into.add(Values.take(out, (long) Values.SIZE * i));
      total += n;
    }
  }

  /** The number of values in the queue now. */
  public int size() {
    return (int) Lib.u64("queue_len", id);
  }

  /** Whether the queue is empty now. */
  public boolean isEmpty() {
    return size() == 0;
  }

  /** The most values it holds. */
  public int capacity() {
    return (int) Lib.u64("queue_capacity", id);
  }

  /** Room left now. */
  public int remainingCapacity() {
    return capacity() - size();
  }

  /** Ends the queue for every process: puts fail with Closed, takes drain it, then fail with Closed. */
  public void shutdown() {
    Lib.check("queue_shutdown", id);
  }

  /** Whether the queue was shut down. */
  public boolean isShutdown() {
    return Lib.bool("queue_is_shutdown", id);
  }
}
