package dev.plexus;

import com.sun.jna.ptr.ByteByReference;
import com.sun.jna.ptr.IntByReference;
import java.time.Duration;

/**
 * A reusable barrier for {@code parties} callers (threads or processes): each
 * {@link #await} returns once all have arrived in the current round. A waiter that
 * times out (or is interrupted) withdraws its arrival, as if it had never arrived,
 * unless the round completed meanwhile (then it passed).
 */
public final class Barrier extends Handle {
  Barrier(Region region, String name, long id) {
    super(region, name, "barrier", id);
  }

  /** Waits for the round to complete, without limit; returns true for the last party to arrive. */
  public boolean await() throws InterruptedException {
    return await(null);
  }

  /** Waits at most {@code timeout} ({@link PlexusException.Timeout} then); true for the last party. */
  public boolean await(Duration timeout) throws InterruptedException {
    ByteByReference last = new ByteByReference();
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call("barrier_wait_last", id, t, last));
    return last.getValue() != 0;
  }

  /** The number of parties of a round. */
  public int parties() {
    IntByReference out = new IntByReference();
    Lib.check("barrier_parties", id, out);
    return out.getValue();
  }
}
