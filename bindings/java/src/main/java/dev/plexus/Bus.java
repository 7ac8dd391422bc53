package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.LongByReference;
import java.util.List;

/**
 * A broadcast bus: every subscriber receives every message, in one order for all;
 * publishing never waits; the last {@code capacity} messages are retained. Messages
 * may carry a topic ({@link #emit}); a subscription may take only the topics starting
 * with a prefix.
 *
 * <pre>{@code
 * try (Subscription sub = bus.subscribe(Bus.From.NOW)) {
 *   bus.publish("hello");
 *   Message m = sub.next(Duration.ofSeconds(1));   // m.value() is "hello", m.seq() its cursor
 * }
 * }</pre>
 */
public final class Bus extends Handle {
  Bus(Region region, String name, long id) {
    super(region, name, "bus", id);
  }

  /** Where a subscription starts. */
  public enum From {
    /** With the next message published. */
    NOW,
    /** With the oldest message the bus still retains. */
    OLDEST
  }

  /** Publishes {@code value}; returns its sequence number. {@link PlexusException.Closed} after shutdown. */
  public long publish(Object value) {
    LongByReference seq = new LongByReference();
    try (Values.In v = new Values.In(value)) {
      Lib.check("bus_publish", id, v.mem, seq);
    }
    return seq.getValue();
  }

  /**
   * Publishes the values in order as consecutive messages with one call
   * (plexus_bus_publish_many): no other publisher's message comes between two of them,
   * and sleeping subscribers are woken once. Returns the first one's sequence number
   * (message {@code k} has that plus {@code k}), 0 for an empty list. A value the
   * library refuses anywhere in the list publishes nothing ({@link
   * IllegalArgumentException} for a Java type without a plexus counterpart, {@link
   * PlexusException.InvalidArgument} from the library); {@link PlexusException.Closed}
   * after shutdown.
   */
  public long publishAll(List<?> values) {
    int n = values.size();
    LongByReference first = new LongByReference();
    if (n == 0) {
      Lib.check("bus_publish_many", id, null, 0L, first);
      return first.getValue();
    }
    try (Values.InBatch all = new Values.InBatch(values)) {
      Lib.check("bus_publish_many", id, all.mem, (long) n, first);
      return first.getValue();
    }
  }

  /** Publishes {@code value} under {@code topic}; returns its sequence number. */
  public long emit(String topic, Object value) {
    LongByReference seq = new LongByReference();
    try (Values.In v = new Values.In(value)) {
      Lib.check("bus_emit", id, Lib.cstr(topic), v.mem, seq);
    }
    return seq.getValue();
  }

  /** A subscription to every message, from now or from the oldest retained. */
  public Subscription subscribe(From from) {
    LongByReference out = new LongByReference();
    Lib.check("bus_subscribe", id, from.ordinal(), out);
    return new Subscription(this, out.getValue(), false);
  }

  /** A subscription to the messages whose topic starts with {@code prefix}. */
  public Subscription subscribe(String prefix, From from) {
    LongByReference out = new LongByReference();
    Lib.check("bus_subscribe_topic", id, from.ordinal(), Lib.cstr(prefix), out);
    return new Subscription(this, out.getValue(), true);
  }

  /** Ends the bus for every process: publishing fails, subscribers drain, then get Closed. */
  public void shutdown() {
    Lib.check("bus_shutdown", id);
  }

  /** Whether the bus was shut down. */
  public boolean isShutdown() {
    return Lib.bool("bus_is_shutdown", id);
  }

  /** How many messages it retains. */
  public long capacity() {
    return Lib.u64("bus_capacity", id);
  }

  /** The sequence number the next message will get. */
  public long nextSeq() {
    return Lib.u64("bus_next_seq", id);
  }
}
