package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.PlexusException;
import dev.plexus.Service;
import java.time.Duration;
import java.util.Map;

final class ServiceTests {
  static final Duration LONG = Duration.ofSeconds(30);

  static void testCallAndServe() throws Exception {
    withRegion("service", (r, name) -> {
      Service s = r.service("echo", 4);
      eq(4L, s.capacity());
      eq(0L, s.pending());
      Thread server = new Thread(() -> {
        try {
          s.serve(req -> {
            if ("fail".equals(req)) throw new IllegalStateException("asked to fail");
            return Map.of("echo", req);
          });
        } catch (InterruptedException done) {
          // stopped
        }
      });
      server.start();
      try {
        eq(Map.of("echo", "hi"), s.call("hi", LONG));
        eq(Map.of("echo", 7L), s.call(7L));
        PlexusException.Service e = throwsA(PlexusException.Service.class, () -> s.call("fail", LONG));
        check(e.getMessage().contains("asked to fail"), e.getMessage());
      } finally {
        server.interrupt();
        server.join();
      }
      throwsA(PlexusException.Timeout.class, () -> s.call("nobody serves", Duration.ofMillis(50)));
      check(!s.serveOne(req -> req, Duration.ofMillis(20)), "no request");
    });
  }

  static void testNextAndReply() throws Exception {
    withRegion("reply", (r, name) -> {
      Service s = r.service("svc", 2);
      throwsA(PlexusException.Timeout.class, () -> s.next(Duration.ofMillis(20)));
      Object[] reply = new Object[1];
      Thread caller = new Thread(() -> {
        try {
          reply[0] = s.call(new byte[] {1, 2}, LONG);
        } catch (Exception e) {
          reply[0] = e;
        }
      });
      caller.start();
      Service.Request req = s.next(LONG);
      eq(new byte[] {1, 2}, req.value());
      s.reply(req, "done");
      caller.join();
      eq("done", reply[0]);
      throwsA(PlexusException.InvalidArgument.class, () -> s.reply(req, "twice"));
      Thread caller2 = new Thread(() -> {
        try {
          reply[0] = s.call("x", LONG);
        } catch (Exception e) {
          reply[0] = e;
        }
      });
      caller2.start();
      Service.Request req2 = s.next(LONG);
      s.replyError(req2, "no such thing");
      caller2.join();
      check(reply[0] instanceof PlexusException.Service, String.valueOf(reply[0]));
    });
  }
}
