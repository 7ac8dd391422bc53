package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.LongByReference;
import java.time.Duration;
import java.util.function.Function;

/**
 * Requests from callers to servers and their replies back, between any number of
 * processes and threads.
 *
 * <pre>{@code
 * // a server
 * service.serve(request -> "echo " + request);          // until interrupted
 * // a caller
 * Object reply = service.call("hi", Duration.ofSeconds(5));
 * }</pre>
 *
 * A call is not sliced (each slice would withdraw its request): it waits in one C call
 * that a watcher thread cancels when the calling thread is interrupted
 * (plexus_service_call_cancellable), so an interrupt still ends it within about 20 ms,
 * and a reply that came first is returned, not lost.
 */
public final class Service extends Handle {
  Service(Region region, String name, long id) {
    super(region, name, "service", id);
  }

  /** A request taken by {@link #next}: answer it with {@link #reply} or {@link #replyError}. */
  public record Request(long id, Object value) {}

  /**
   * Sends {@code request} and waits at most {@code timeout} (null: without limit) for
   * the reply. Throws {@link PlexusException.Timeout} (no reply in time: the request is
   * withdrawn), {@link PlexusException.Service} (the server replied with an error, its
   * message in the exception's), {@link PlexusException.OwnerDead} (the server died
   * before replying: call again to retry), {@link InterruptedException} (the request
   * was withdrawn).
   */
  public Object call(Object request, Duration timeout) throws InterruptedException {
    long ns = Lib.nanos(timeout);
    Memory out = Values.out();
    Interrupts.Outcome o;
    try (Values.In v = new Values.In(request)) {
      o = Interrupts.run(cancel -> Lib.call("service_call_cancellable", id, v.mem, out, ns, cancel));
    }
    if (o.status() == Lib.OK) return Values.take(out);
    if (o.interrupted()) throw new InterruptedException("the service call was withdrawn");
    throw Lib.error(o.status());
  }

  /** Sends {@code request} and waits for the reply without limit. */
  public Object call(Object request) throws InterruptedException {
    return call(request, null);
  }

  /** Takes the oldest pending request, waiting at most {@code timeout} ({@link PlexusException.Timeout} then). */
  public Request next(Duration timeout) throws InterruptedException {
    LongByReference req = new LongByReference();
    Memory out = Values.out();
    Lib.slicedOk(Lib.nanos(timeout), t -> Lib.call("service_next", id, req, out, t));
    return new Request(req.getValue(), Values.take(out));
  }

  /** Answers {@code request} with {@code response}. */
  public void reply(Request request, Object response) {
    try (Values.In v = new Values.In(response)) {
      Lib.check("service_reply", id, request.id(), v.mem);
    }
  }

  /** Answers {@code request} with an error: its caller gets {@link PlexusException.Service} with {@code message}. */
  public void replyError(Request request, String message) {
    Lib.check("service_reply_error", id, request.id(), Lib.cstr(message));
  }

  /**
   * Serves one request with {@code handler} if one comes within {@code timeout}: its
   * result is the reply; an exception it throws becomes an error reply with its
   * message. Returns false when no request came in time.
   */
  public boolean serveOne(Function<Object, Object> handler, Duration timeout) throws InterruptedException {
    Request r;
    try {
      r = next(timeout);
    } catch (PlexusException.Timeout e) {
      return false;
    }
    Object response;
    try {
      response = handler.apply(r.value());
    } catch (RuntimeException e) {
      replyError(r, e.getMessage() != null ? e.getMessage() : e.toString());
      return true;
    }
    reply(r, response);
    return true;
  }

  /** Serves requests with {@code handler} until the thread is interrupted (then throws InterruptedException). */
  public void serve(Function<Object, Object> handler) throws InterruptedException {
    while (true) serveOne(handler, null);
  }

  /** The most requests it holds at once. */
  public long capacity() {
    return Lib.u64("service_capacity", id);
  }

  /** How many requests are in it now (pending, being handled, or answered and not yet collected). */
  public long pending() {
    return Lib.u64("service_pending", id);
  }
}
