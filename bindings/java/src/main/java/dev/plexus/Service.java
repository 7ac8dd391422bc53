package dev.plexus;

import com.sun.jna.Memory;
import com.sun.jna.ptr.LongByReference;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
 * (plexus_service_call_cancellable), so an interrupt still ends it promptly, and a reply
 * that came first is returned, not lost.
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
    if (Thread.interrupted()) throw new InterruptedException();
    Memory cancel = Lib.zeroed(4);
    Memory out = Values.out();
    int st;
    try (Values.In v = new Values.In(request)) {
      Thread me = Thread.currentThread();
      Watcher.CALLS.put(me, cancel);
      Watcher.wake();
      try {
        st = Lib.call("service_call_cancellable", id, v.mem, out, Lib.nanos(timeout), cancel);
      } finally {
        Watcher.CALLS.remove(me, cancel);
      }
    }
    if (st == Lib.OK) return Values.take(out);
    if (st == Lib.TIMEOUT && cancel.getInt(0) != 0) {
      Thread.interrupted();
      throw new InterruptedException("the service call was withdrawn");
    }
    throw Lib.error(st);
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

  /**
   * One daemon thread that, while service calls wait, checks every 10 ms whether their
   * threads were interrupted, and sets their cancel words (the C call reads its word
   * every 10 ms and withdraws the request).
   */
  static final class Watcher {
    static final Map<Thread, Memory> CALLS = new ConcurrentHashMap<>();
    private static Thread thread;

    static synchronized void wake() {
      if (thread != null) return;
      thread = new Thread(Watcher::run, "plexus-service-interrupts");
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
