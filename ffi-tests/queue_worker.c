/* queue_worker: the processes of the multi-process queue tests (tests/ffi.rs and
 * scenarios.sh start them, kill some of them with SIGKILL, then run `verify`).
 *
 *   queue_worker <region> init <capacity> fifo|lifo
 *       (re)creates the region (8 MiB) with queue "q" and array "progress" (PROGRESS_LEN
 *       elements, UNDEFINED: no push completed yet)
 *   queue_worker <region> produce <id> <count> int|string
 *       pushes the values of producer <id> (0 <= id < PROGRESS_LEN), seq 0, 1, 2, ...:
 *       <count> of them, or with <count> 0 until the queue is closed (exit 0 then) or the
 *       process is killed; in that mode it stores seq in progress[id] after each completed
 *       push, so the verifier knows which pushes completed. int values are (id << 32 | seq);
 *       string values are self-validating: "<id>:<seq>:<len>:" followed by filler
 *       computed from id, seq and position, <len> bytes in all (64 to ~4000: heap values).
 *   queue_worker <region> consume <out-file> fifo|any
 *       pops until the queue is closed and drained; checks every value (an INT or a whole
 *       string of the format above: never torn) and, with `fifo`, that the values of each
 *       producer arrive in the order it pushed them. Appends a 16-byte record (id, seq)
 *       per value to <out-file> with one write(2) each, so a consumer killed at any point
 *       leaves every value it had taken but one (the value between its pop and its write)
 *       on record. On a failed check it appends an error record (-1, -1) and exits 1.
 *   queue_worker <region> produce-batch <id> <count> int|string
 *       as produce, with plexus_queue_push_many: the batch starting at seq s holds
 *       batch_len(id, s) values (1 to MAX_BATCH, a function of id and s); in the mode
 *       without a count, progress[id] holds the last seq of the last completed batch
 *   queue_worker <region> consume-batch <out-file> fifo|any
 *       as consume, with plexus_queue_pop_many (up to 1 to 24 values a call), and with
 *       `fifo` also checks that the values of one push batch that come in one pop batch
 *       are one run there (no other value between them: a FIFO batch stays together).
 *       A consumer killed at any point leaves on record every value it had taken but
 *       those of its last pop_many.
 *   queue_worker <region> close
 *       closes the queue.
 *   queue_worker <region> verify <mode> ...
 *       every mode first checks that the queue is closed and empty and that no dead
 *       worker is still attached to the region, then:
 *   queue_worker <region> verify all <producers> <count> <files...>
 *       every value of producers 0..producers-1, seq 0..count-1, arrived exactly once,
 *       and nothing else
 *   queue_worker <region> verify producer-kills <producers> <files...>
 *       producers 0..producers-1 were killed at random points (or stopped by close): for
 *       each, every push that completed (seq <= progress[id]) arrived exactly once, the
 *       push in flight at the kill (seq progress[id] + 1) at most once, nothing else
 *   queue_worker <region> verify batch-kills <producers> <files...>
 *       as producer-kills for batch producers: every batch that completed (seq <=
 *       progress[id]) arrived exactly once; of the batch in flight at the kill, a first
 *       part (maybe none, maybe all of it), once; nothing else
 *   queue_worker <region> verify consumer-kills <max-lost> <files...>
 *       producer 0 pushed until the queue closed while consumers were killed: nothing
 *       arrived twice, nothing that was not pushed arrived, and at most <max-lost> values
 *       (one per killed consumer) are missing
 *
 * `produce` and `consume` print "ready" once the queue is open. Every push and pop waits
 * at most 10 s: a queue wedged by a killed process makes the worker fail, not hang. Exit
 * status 0 on success, 1 on a failed check (message on stderr), 2 on bad usage. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>

#define MS 1000000LL
#define WAIT_NS (10000 * MS)
#define PROGRESS_LEN 1024

typedef struct {
  int64_t id, seq;
} record;

static plexus_region open_region(const char *name) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = WAIT_NS;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  return r;
}

static plexus_queue open_queue(plexus_region r) {
  plexus_queue q;
  MUST(plexus_queue_open(r, "q", 0, 0, &q));
  return q;
}

static void ready(void) {
  printf("ready\n");
  fflush(stdout);
}

/* ---- batches ---- */

#define MAX_BATCH 32

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

/* The length of producer id's batch that starts at seq `start`. */
static int64_t batch_len(int64_t id, int64_t start) {
  return 1 + (int64_t)(mix64((uint64_t)id << 40 ^ (uint64_t)start) % MAX_BATCH);
}

/* The first seq of the batch that holds producer id's seq (the consumer walks the
 * batches of each producer once, remembering where each starts); -1 if out of range. */
static int64_t batch_start(int64_t id, int64_t seq) {
  static uint8_t *is_start[PROGRESS_LEN];
  static int64_t walked[PROGRESS_LEN], room[PROGRESS_LEN];
  if (id < 0 || id >= PROGRESS_LEN || seq < 0 || seq >= (int64_t)1 << 32) return -1;
  while (walked[id] <= seq) {
    if (walked[id] + MAX_BATCH >= room[id]) {
      int64_t grown = room[id] ? room[id] * 2 : 4096;
      is_start[id] = realloc(is_start[id], (size_t)grown);
      memset(is_start[id] + room[id], 0, (size_t)(grown - room[id]));
      room[id] = grown;
    }
    is_start[id][walked[id]] = 1;
    walked[id] += batch_len(id, walked[id]);
  }
  while (!is_start[id][seq]) seq--;
  return seq;
}

/* ---- self-validating strings ---- */

static size_t string_len(int64_t id, int64_t seq) {
  return 64 + (size_t)(((uint64_t)seq * 2654435761u + (uint64_t)id * 40503u) % 3937);
}

static char filler(int64_t id, int64_t seq, size_t pos) {
  return (char)('a' + ((uint64_t)id * 31 + (uint64_t)seq * 7 + pos) % 26);
}

/* Writes the value of (id, seq) into buf (capacity >= 4096); returns its length. */
static size_t make_string(char *buf, int64_t id, int64_t seq) {
  size_t len = string_len(id, seq);
  int head = snprintf(buf, 4096, "%" PRId64 ":%" PRId64 ":%zu:", id, seq, len);
  for (size_t i = (size_t)head; i < len; i++) buf[i] = filler(id, seq, i);
  return len;
}

/* Decodes a popped value into *rec; NULL if it is whole, else what is wrong with it. */
static const char *decode(const plexus_value *v, record *rec, char *why, size_t cap) {
  if (v->type == PLEXUS_INT) {
    rec->id = v->as.i >> 32;
    rec->seq = v->as.i & 0xffffffff;
    return NULL;
  }
  if (v->type != PLEXUS_STRING) {
    snprintf(why, cap, "a value of type %d", (int)v->type);
    return why;
  }
  const char *s = v->as.buf.ptr;
  size_t n = v->as.buf.len;
  char head[64];
  size_t h = n < sizeof head - 1 ? n : sizeof head - 1;
  memcpy(head, s, h);
  head[h] = 0;
  long long id, seq;
  size_t len;
  int used = 0;
  if (sscanf(head, "%lld:%lld:%zu:%n", &id, &seq, &len, &used) != 3 || used == 0) {
    snprintf(why, cap, "torn: bad header \"%.30s\" (%zu bytes)", head, n);
    return why;
  }
  if (len != n || len != string_len(id, seq)) {
    snprintf(why, cap, "torn: value %lld:%lld has %zu bytes, its header says %zu", id, seq, n, len);
    return why;
  }
  for (size_t i = (size_t)used; i < n; i++) {
    if (s[i] != filler(id, seq, i)) {
      snprintf(why, cap, "torn: value %lld:%lld has a foreign byte at %zu", id, seq, i);
      return why;
    }
  }
  rec->id = id;
  rec->seq = seq;
  return NULL;
}

/* ---- roles ---- */

static int produce(const char *region, int64_t id, int64_t count, int strings) {
  if (id < 0 || id >= PROGRESS_LEN) return 2;
  plexus_region r = open_region(region);
  plexus_queue q = open_queue(r);
  plexus_array progress;
  MUST(plexus_array_open(r, "progress", 0, 0, &progress));
  ready();
  static char buf[4096];
  for (int64_t seq = 0; count == 0 || seq < count; seq++) {
    plexus_value v;
    if (strings)
      v = plexus_string_n(buf, make_string(buf, id, seq));
    else
      v = plexus_int(id << 32 | seq);
    plexus_status s = plexus_queue_push(q, &v, WAIT_NS);
    if (s == PLEXUS_CLOSED && count == 0) break;
    if (s != PLEXUS_OK) {
      fprintf(stderr, "queue_worker: producer %" PRId64 ": push of seq %" PRId64 ": %s: %s\n", id,
              seq, plexus_status_name(s), plexus_last_error());
      return 1;
    }
    if (count == 0) {
      plexus_value done = plexus_int(seq);
      MUST(plexus_array_write(progress, (uint64_t)id, &done));
    }
  }
  MUST(plexus_region_close(r));
  return 0;
}

/* Pushes producer id's values in batches of batch_len values (see produce). */
static int produce_batches(const char *region, int64_t id, int64_t count, int strings) {
  if (id < 0 || id >= PROGRESS_LEN) return 2;
  plexus_region r = open_region(region);
  plexus_queue q = open_queue(r);
  plexus_array progress;
  MUST(plexus_array_open(r, "progress", 0, 0, &progress));
  ready();
  static char bufs[MAX_BATCH][4096];
  plexus_value vals[MAX_BATCH];
  for (int64_t seq = 0; count == 0 || seq < count;) {
    int64_t n = batch_len(id, seq);
    if (count != 0 && seq + n > count) n = count - seq;
    for (int64_t k = 0; k < n; k++) {
      if (strings)
        vals[k] = plexus_string_n(bufs[k], make_string(bufs[k], id, seq + k));
      else
        vals[k] = plexus_int(id << 32 | (seq + k));
    }
    size_t pushed = 99;
    plexus_status s = plexus_queue_push_many(q, vals, (size_t)n, WAIT_NS, &pushed);
    if (s == PLEXUS_CLOSED && count == 0) {
      /* Closed in the middle: the first `pushed` went in, and count as completed. */
      if (pushed > 0) {
        plexus_value done = plexus_int(seq + (int64_t)pushed - 1);
        MUST(plexus_array_write(progress, (uint64_t)id, &done));
      }
      break;
    }
    if (s != PLEXUS_OK || pushed != (size_t)n) {
      fprintf(stderr,
              "queue_worker: producer %" PRId64 ": push_many of seq %" PRId64 "+%" PRId64
              ": %s (%zu pushed): %s\n",
              id, seq, n, plexus_status_name(s), pushed, plexus_last_error());
      return 1;
    }
    seq += n;
    if (count == 0) {
      plexus_value done = plexus_int(seq - 1);
      MUST(plexus_array_write(progress, (uint64_t)id, &done));
    }
  }
  MUST(plexus_region_close(r));
  return 0;
}

static int consume(const char *region, const char *out_file, int fifo, int batches) {
  int fd = open(out_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) {
    fprintf(stderr, "queue_worker: cannot open %s: %s\n", out_file, strerror(errno));
    return 1;
  }
  plexus_region r = open_region(region);
  plexus_queue q = open_queue(r);
  ready();
  static int64_t last[PROGRESS_LEN];
  for (int i = 0; i < PROGRESS_LEN; i++) last[i] = -1;
  long n = 0, calls = 0;
  char why[200];
  plexus_value got[24];
  size_t have = 0, next = 0;
  /* The push batches seen in the current pop batch, as (producer, first seq). */
  int64_t runs[24][2];
  size_t nruns = 0;
  unsigned rnd = (unsigned)getpid();
  for (;;) {
    plexus_value v;
    plexus_status s;
    if (!batches) {
      s = plexus_queue_pop(q, &v, WAIT_NS);
    } else {
      if (next == have) {
        rnd = rnd * 1103515245u + 12345u;
        size_t max = 1 + (rnd >> 16) % 24;
        s = plexus_queue_pop_many(q, got, max, WAIT_NS, &have);
        next = 0;
        nruns = 0;
        calls++;
        if (s == PLEXUS_OK && (have < 1 || have > max)) {
          fprintf(stderr, "queue_worker: pop_many(%zu) gave %zu values\n", max, have);
          return 1;
        }
        if (s != PLEXUS_OK && have != 0) {
          fprintf(stderr, "queue_worker: pop_many said %s with %zu values\n",
                  plexus_status_name(s), have);
          return 1;
        }
      } else {
        s = PLEXUS_OK;
      }
      if (s == PLEXUS_OK) v = got[next++];
    }
    if (s == PLEXUS_CLOSED) break;
    record rec;
    const char *bad = NULL;
    if (s != PLEXUS_OK) {
      snprintf(why, sizeof why, "pop: %s: %s%s", plexus_status_name(s), plexus_last_error(),
               s == PLEXUS_TIMEOUT ? " (nothing for 10 s: wedged?)" : "");
      bad = why;
    } else {
      bad = decode(&v, &rec, why, sizeof why);
      plexus_value_free(&v);
    }
    if (!bad && batches && fifo) {
      int64_t start = batch_start(rec.id, rec.seq);
      if (nruns == 0 || runs[nruns - 1][0] != rec.id || runs[nruns - 1][1] != start) {
        for (size_t k = 0; k < nruns; k++)
          if (runs[k][0] == rec.id && runs[k][1] == start) {
            snprintf(why, sizeof why,
                     "producer %" PRId64 "'s batch at seq %" PRId64
                     " is split by another value in one pop batch",
                     rec.id, start);
            bad = why;
          }
        runs[nruns][0] = rec.id;
        runs[nruns][1] = start;
        nruns++;
      }
    }
    if (!bad && (rec.id < 0 || rec.id >= PROGRESS_LEN || rec.seq < 0)) {
      snprintf(why, sizeof why, "value of unknown producer %" PRId64 " (seq %" PRId64 ")", rec.id,
               rec.seq);
      bad = why;
    }
    if (!bad && fifo && rec.seq <= last[rec.id]) {
      snprintf(why, sizeof why, "FIFO order: producer %" PRId64 "'s seq %" PRId64 " after %" PRId64,
               rec.id, rec.seq, last[rec.id]);
      bad = why;
    }
    if (bad) {
      record err = {-1, -1};
      if (write(fd, &err, sizeof err) != (ssize_t)sizeof err) perror("queue_worker: write");
      fprintf(stderr, "queue_worker: consumer %ld: %s\n", (long)getpid(), bad);
      return 1;
    }
    last[rec.id] = rec.seq;
    if (write(fd, &rec, sizeof rec) != (ssize_t)sizeof rec) {
      fprintf(stderr, "queue_worker: write to %s: %s\n", out_file, strerror(errno));
      return 1;
    }
    n++;
  }
  close(fd);
  MUST(plexus_region_close(r));
  printf("consumed %ld values (%ld calls); locks recovered %llu\n", n, batches ? calls : n,
         (unsigned long long)plexus_recovered_locks());
  return 0;
}

/* ---- verification ---- */

static int fail(const char *what) {
  fprintf(stderr, "queue_worker verify: %s\n", what);
  return 1;
}

static int by_id_seq(const void *a, const void *b) {
  const record *x = a, *y = b;
  if (x->id != y->id) return x->id < y->id ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads the records of every file (a partial last record, left by a consumer killed
 * inside write(2), is ignored), sorted by (id, seq). Fails on an error record. */
static record *read_records(char **files, int nfiles, size_t *count) {
  size_t cap = 1 << 16, n = 0;
  record *all = malloc(cap * sizeof *all);
  for (int f = 0; f < nfiles; f++) {
    FILE *in = fopen(files[f], "rb");
    if (!in) continue; /* a consumer killed before it created its file */
    record rec;
    while (fread(&rec, sizeof rec, 1, in) == 1) {
      if (rec.id == -1) {
        fprintf(stderr, "queue_worker verify: %s: its consumer failed a check (see above)\n",
                files[f]);
        exit(1);
      }
      if (n == cap) all = realloc(all, (cap *= 2) * sizeof *all);
      all[n++] = rec;
    }
    fclose(in);
  }
  qsort(all, n, sizeof *all, by_id_seq);
  for (size_t i = 1; i < n; i++) {
    if (all[i].id == all[i - 1].id && all[i].seq == all[i - 1].seq) {
      fprintf(stderr, "queue_worker verify: producer %" PRId64 "'s seq %" PRId64 " arrived twice\n",
              all[i].id, all[i].seq);
      exit(1);
    }
  }
  *count = n;
  return all;
}

/* progress[id]: the last seq whose push completed, -1 if none. */
static int64_t last_completed(plexus_array progress, int64_t id) {
  plexus_value v;
  MUST(plexus_array_read(progress, (uint64_t)id, &v));
  if (v.type == PLEXUS_UNDEFINED) return -1;
  if (v.type != PLEXUS_INT) {
    fprintf(stderr, "queue_worker verify: progress[%" PRId64 "] has type %d\n", id, (int)v.type);
    exit(1);
  }
  return v.as.i;
}

/* After every worker finished: the queue is closed and empty (a pop says CLOSED, and no
 * push left behind by a killed producer still counts), and the dead workers' attachments
 * are gone. (The pop comes first: a push refused because the queue closed while it was
 * under way makes plexus_queue_len over-count until the next pop; queue_len_after_shutdown.c
 * shows that bug on its own.) */
static int check_queue_drained(const char *region) {
  plexus_region r = open_region(region);
  plexus_queue q = open_queue(r);
  uint64_t len = 99;
  bool closed = false;
  plexus_value out;
  plexus_status popped = plexus_queue_pop(q, &out, 0);
  if (popped == PLEXUS_OK) plexus_value_free(&out);
  if (popped != PLEXUS_CLOSED) return fail("a pop of the drained queue did not say CLOSED");
  MUST(plexus_queue_len(q, &len));
  MUST(plexus_queue_is_shutdown(q, &closed));
  plexus_region_info info;
  MUST(plexus_region_get_info(r, &info));
  MUST(plexus_region_close(r));
  char msg[120];
  if (!closed) return fail("the queue is not closed");
  if (len != 0) {
    snprintf(msg, sizeof msg, "the drained queue still has length %" PRIu64, len);
    return fail(msg);
  }
  if (info.attached_processes != 1) {
    snprintf(msg, sizeof msg, "%u live attachments, expected 1 (this verifier)",
             info.attached_processes);
    return fail(msg);
  }
  return 0;
}

static int verify(const char *region, int argc, char **argv) {
  if (argc < 1) return 2;
  if (check_queue_drained(region)) return 1;
  const char *mode = argv[0];
  char msg[300];
  size_t n;
  if (strcmp(mode, "all") == 0 && argc >= 3) {
    int64_t producers = strtoll(argv[1], NULL, 10), count = strtoll(argv[2], NULL, 10);
    record *all = read_records(argv + 3, argc - 3, &n);
    /* Sorted and free of duplicates: exactly the expected sequence. */
    size_t i = 0;
    for (int64_t id = 0; id < producers; id++)
      for (int64_t seq = 0; seq < count; seq++, i++)
        if (i >= n || all[i].id != id || all[i].seq != seq) {
          snprintf(msg, sizeof msg, "producer %" PRId64 "'s seq %" PRId64 " never arrived", id, seq);
          return fail(msg);
        }
    if (i != n) {
      snprintf(msg, sizeof msg, "value %" PRId64 ":%" PRId64 " arrived but was never pushed",
               all[i].id, all[i].seq);
      return fail(msg);
    }
    printf("verify: %zu values, each delivered exactly once\n", n);
    free(all);
    return 0;
  }
  int batch_kills = strcmp(mode, "batch-kills") == 0 && argc >= 2;
  int producer_kills = (batch_kills || strcmp(mode, "producer-kills") == 0) && argc >= 2;
  int consumer_kills = strcmp(mode, "consumer-kills") == 0 && argc >= 2;
  if (!producer_kills && !consumer_kills) return 2;
  /* producer-kills: the number of producers started; consumer-kills: of values lost */
  int64_t limit = strtoll(argv[1], NULL, 10);
  char **files = argv + 2;
  int nfiles = argc - 2;
  record *all = read_records(files, nfiles, &n);
  plexus_region r = open_region(region);
  plexus_array progress;
  MUST(plexus_array_open(r, "progress", 0, 0, &progress));
  size_t i = 0;
  int64_t producers = 0, completed = 0, in_flight_lost = 0, lost = 0;
  for (int64_t id = 0; id < PROGRESS_LEN; id++) {
    int64_t last = last_completed(progress, id);
    int64_t got = 0;
    /* What of the push in flight at the kill may have arrived: one value, or a first
     * part of the batch (then seq last+1, last+2, ... in the sorted records). */
    int64_t in_flight = producer_kills ? (batch_kills ? batch_len(id, last + 1) : 1) : 0;
    for (; i < n && all[i].id == id; i++) {
      int64_t seq = all[i].seq;
      if (seq > last + 1 && !(i > 0 && all[i - 1].id == id && all[i - 1].seq == seq - 1)) {
        snprintf(msg, sizeof msg,
                 "producer %" PRId64 "'s seq %" PRId64 " arrived without seq %" PRId64
                 " (not a first part of the batch in flight)",
                 id, seq, seq - 1);
        return fail(msg);
      }
      if (seq > last + in_flight) {
        snprintf(msg, sizeof msg,
                 "producer %" PRId64 "'s seq %" PRId64 " arrived, but its last completed push "
                 "was seq %" PRId64,
                 id, seq, last);
        return fail(msg);
      }
      if (seq <= last) got++;
    }
    if (i < n && all[i].id < id) return fail("records out of order");
    if (last >= 0) producers++;
    completed += last + 1;
    if (producer_kills) {
      if (id >= limit && (last >= 0 || (i > 0 && all[i - 1].id == id))) {
        snprintf(msg, sizeof msg, "producer %" PRId64 " was never started, yet pushed", id);
        return fail(msg);
      }
      if (got != last + 1) {
        snprintf(msg, sizeof msg,
                 "producer %" PRId64 ": %" PRId64 " of its %" PRId64 " completed pushes arrived",
                 id, got, last + 1);
        return fail(msg);
      }
      if (id < limit && !(i > 0 && all[i - 1].id == id && all[i - 1].seq == last + 1))
        in_flight_lost++;
    } else {
      lost += last + 1 - got;
    }
  }
  if (i != n) {
    snprintf(msg, sizeof msg, "value %" PRId64 ":%" PRId64 " of an unknown producer arrived",
             all[i].id, all[i].seq);
    return fail(msg);
  }
  if (producers == 0 || completed == 0) return fail("no push completed: the test tested nothing");
  if (consumer_kills && lost > limit) {
    snprintf(msg, sizeof msg,
             "%" PRId64 " values of %" PRId64 " completed pushes are missing; only %" PRId64
             " consumers were killed",
             lost, completed, limit);
    return fail(msg);
  }
  if (producer_kills)
    printf("verify: %" PRId64 " producers, %" PRId64
           " completed pushes, each delivered exactly once; %" PRId64
           " producers stopped before their next push completed (it was not delivered)\n",
           producers, completed, in_flight_lost);
  else
    printf("verify: %" PRId64 " completed pushes, %" PRId64
           " delivered once, %" PRId64 " taken by killed consumers, none twice\n",
           completed, completed - lost, lost);
  free(all);
  MUST(plexus_region_close(r));
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) goto usage;
  const char *region = argv[1], *cmd = argv[2];
  if (strcmp(cmd, "init") == 0 && argc == 5) {
    int lifo = strcmp(argv[4], "lifo") == 0;
    if (!lifo && strcmp(argv[4], "fifo") != 0) goto usage;
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_RECREATE;
    o.size = 8 << 20;
    plexus_region r;
    MUST(plexus_region_open(region, &o, &r));
    plexus_queue q;
    MUST(plexus_queue_open(r, "q", strtoull(argv[3], NULL, 10), lifo ? PLEXUS_LIFO : 0, &q));
    plexus_array progress;
    MUST(plexus_array_open(r, "progress", PROGRESS_LEN, 0, &progress));
    MUST(plexus_region_close(r));
    return 0;
  }
  if (strcmp(cmd, "produce") == 0 && argc == 6) {
    int strings = strcmp(argv[5], "string") == 0;
    if (!strings && strcmp(argv[5], "int") != 0) goto usage;
    return produce(region, strtoll(argv[3], NULL, 10), strtoll(argv[4], NULL, 10), strings);
  }
  if (strcmp(cmd, "produce-batch") == 0 && argc == 6) {
    int strings = strcmp(argv[5], "string") == 0;
    if (!strings && strcmp(argv[5], "int") != 0) goto usage;
    return produce_batches(region, strtoll(argv[3], NULL, 10), strtoll(argv[4], NULL, 10),
                           strings);
  }
  if ((strcmp(cmd, "consume") == 0 || strcmp(cmd, "consume-batch") == 0) && argc == 5) {
    int fifo = strcmp(argv[4], "fifo") == 0;
    if (!fifo && strcmp(argv[4], "any") != 0) goto usage;
    return consume(region, argv[3], fifo, strcmp(cmd, "consume-batch") == 0);
  }
  if (strcmp(cmd, "close") == 0 && argc == 3) {
    plexus_region r = open_region(region);
    MUST(plexus_queue_shutdown(open_queue(r)));
    MUST(plexus_region_close(r));
    return 0;
  }
  if (strcmp(cmd, "verify") == 0) {
    int s = verify(region, argc - 3, argv + 3);
    if (s != 2) return s;
  }
usage:
  fprintf(stderr, "usage: queue_worker <region> <command> <args...> (see queue_worker.c)\n");
  return 2;
}
