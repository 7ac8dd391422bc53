// The Java participant of the cross-language demo (./demo.sh runs it when a JDK, JNA and
// Jackson core are installed; see demo.c for the plan).
//
//   java -cp <plexus.jar:jna.jar:jackson-core.jar> demo/Demo.java REGION IDS
//        e.g. ... plexus-demo-42 c,cpp,python,node,java
//
// It blocks its main thread in plexus calls (Java threads are cheap), while a second
// thread counts how often it ran meanwhile. REGION may be redis://host:port/NAME
// (./demo.sh --redis); a password is never printed. Every line starts with "[Java]".
// Exit status 0 on success, 1 on failure.

import dev.plexus.Barrier;
import dev.plexus.Plexus;
import dev.plexus.Region;
import dev.plexus.SharedMap;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

public class Demo {
  static final int INCREMENTS = 10000;
  // Generous limits: over the network (./demo.sh --redis) every call is a round trip.
  static final Duration WAIT = Duration.ofSeconds(60);
  static final Duration BARRIER_WAIT = Duration.ofSeconds(120);

  static void say(String line) {
    System.out.println("[Java]   " + line);
    System.out.flush();
  }

  static int rounds = 0;

  static void meet(Barrier barrier, int parties) throws InterruptedException {
    rounds++;
    if (barrier.await(BARRIER_WAIT)) {
      say("barrier 'meet' round " + rounds + ": all " + parties + " processes arrived (Java was last)");
    }
  }

  public static void main(String[] args) {
    if (args.length != 2) {
      System.err.println("usage: java demo/Demo.java REGION IDS (e.g. plexus-demo c,cpp,python,java)");
      System.exit(2);
    }
    try {
      run(args[0], Arrays.asList(args[1].split(",")));
    } catch (Throwable e) {
      System.err.println("[Java]   failed: " + e);
      System.exit(1);
    }
  }

  static void run(String name, List<String> ids) throws Exception {
    String right = ids.get((ids.indexOf("java") + 1) % ids.size());
    int parties = ids.size();
    AtomicLong ticks = new AtomicLong();
    Thread ticker = new Thread(() -> {
      while (!Thread.currentThread().isInterrupted()) {
        ticks.incrementAndGet();
        try {
          Thread.sleep(1);
        } catch (InterruptedException e) {
          return;
        }
      }
    });
    ticker.setDaemon(true);
    ticker.start();

    // The C process creates the region and, last, the barrier: wait for both.
    try (Region region = Region.openExisting(name, WAIT)) {
      region.waitObject("meet", WAIT);
      SharedMap m = region.map("demo", 0);
      Barrier barrier = region.barrier("meet", 0);
      say("opened region '" + Region.shownName(name) + "' (libplexus " + Plexus.libraryVersion() + " through JNA)");

      // 1. greetings around the ring
      String text = "hello from Java (pid " + ProcessHandle.current().pid() + ")";
      m.writeEF("hello/" + right, text, WAIT);
      say("writeEF hello/" + right + " <- '" + text + "'");
      say("readFE hello/java -> '" + m.readFE("hello/java", WAIT) + "'");
      meet(barrier, parties);

      // 2. the shared counter
      for (int i = 0; i < INCREMENTS; i++) m.faa("counter", 1L);
      meet(barrier, parties);
      Object total = m.read("counter");
      if (!total.equals((long) parties * INCREMENTS)) {
        throw new IllegalStateException("counter is " + total + ", expected " + (long) parties * INCREMENTS);
      }
      say("counter = " + total + ": correct");
      meet(barrier, parties);

      // 3. Python edits "config" between rounds 3 and 4
      meet(barrier, parties);
      @SuppressWarnings("unchecked")
      Map<String, Object> cfg = (Map<String, Object>) m.read("config");
      @SuppressWarnings("unchecked")
      Map<String, Object> limits = (Map<String, Object>) cfg.get("limits");
      say("config.limits.queue = " + limits.get("queue") + ", config.edited_by = '" + cfg.get("edited_by") + "' (a java.util.Map)");
      meet(barrier, parties);

      // 4. the C process stops the C++ background updater meanwhile
      meet(barrier, parties);
      m.faa("done", 1L); // past the last barrier (C waits for it)
      ticker.interrupt();
      say("done (a second thread ran " + ticks.get() + " times while the main thread waited in plexus)");
    }
  }
}
