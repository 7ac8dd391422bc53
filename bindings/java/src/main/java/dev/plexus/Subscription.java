package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.LongByReference;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** A subscription to a {@link Bus}: its cursor moves by one message per {@link #next}. */
public final class Subscription implements AutoCloseable {
  private static final int TOPIC_CAP = 113;
  private final Bus bus;
  private final long id;
  private final boolean topics;
  private volatile boolean closed;

  Subscription(Bus bus, long id, boolean topics) {
    this.bus = bus;
    this.id = id;
    this.topics = topics;
  }

  /** The bus this subscription reads. */
  public Bus bus() {
    return bus;
  }

  /** The next message, waiting without limit; {@link PlexusException.Closed} once the bus is shut down and drained. */
  public Message next() throws InterruptedException {
    return next(null);
  }

  /** The next message, waiting at most {@code timeout} ({@link PlexusException.Timeout} then). */
  public Message next(Duration timeout) throws InterruptedException {
    Memory out = Values.out();
    LongByReference seq = new LongByReference();
    if (!topics) {
      Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call("sub_next", id, out, seq, t));
      return new Message(seq.getValue(), null, Values.take(out));
    }
    Memory topic = Lib.zeroed(TOPIC_CAP);
    LongByReference len = new LongByReference();
    Lib.slicedOk(
        Lib.nanos(timeout),
        t -> Lib.call("sub_next_event", id, topic, (long) TOPIC_CAP, len, out, seq, t));
    String name = new String(topic.getByteArray(0, (int) len.getValue()), StandardCharsets.UTF_8);
    return new Message(seq.getValue(), name, Values.take(out));
  }

  /** Ends the subscription. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    int st = Lib.call("sub_close", id);
    if (st != Lib.OK && st != 101) throw Lib.error(st);
  }
}
