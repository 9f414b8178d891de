// The kernel's floor under `bench/runner.sh`: the least CPU per request that any client pays on
// this machine to send timer-paced HTTP requests over loopback and read the responses.
//
// Each thread keeps one keep-alive connection and, like ibench's workers, sleeps on a timerfd
// until its next send time in an epoll loop, sends every request that is due, and reads what
// has arrived. No HTTP parsing, no accounting, no allocation: what is left is the syscalls,
// the wake-ups and the loopback TCP stack. Responses are counted by length (the target sends
// one fixed response).
//
//   floor PORT RATE SECONDS THREADS  ->  "achieved_rate cpu_us_per_request"
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>

static const char BODY[] = "{\"model\":\"static\",\"prompt\":\"hello\",\"max_tokens\":3}";
static char request[512];
static int port, threads;
static double rate, seconds;
static struct timespec start;

static void die(const char *what) { perror(what); exit(1); }

static long long ns_of(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static int connect_target(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) die("connect");
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return s;
}

// One blocking exchange: the length of the target's response (everything that arrives until
// the target is quiet for 200 ms; a long stream takes several reads).
static long response_length(void) {
  int s = connect_target();
  if (write(s, request, strlen(request)) < 0) die("write");
  struct timeval quiet = {.tv_sec = 0, .tv_usec = 200000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &quiet, sizeof quiet);
  static char buf[1 << 20];
  long n = 0, r;
  while (n < (long)sizeof buf && (r = read(s, buf + n, sizeof buf - n)) > 0) n += r;
  if (n < 12 || strncmp(buf, "HTTP/1.1 200", 12)) { fprintf(stderr, "floor: bad response\n"); exit(1); }
  close(s);
  return n;
}

static long length;

static void *client(void *arg) {
  long id = (long)arg;
  long long total = (long long)(rate * seconds) / threads;
  long long period = (long long)(1e9 * threads / rate), first = (long long)(1e9 * id / rate);
  int s = connect_target();
  fcntl(s, F_SETFL, O_NONBLOCK);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = s};
  epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  ev.data.fd = tfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  long long sent = 0, received = 0, bytes = 0;
  size_t len = strlen(request);
  char buf[65536];
  while (received < total) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    while (sent < total && ns_of(start) + first + sent * period <= ns_of(now)) {
      if (write(s, request, len) != (ssize_t)len) die("write");
      sent++;
    }
    if (sent < total) {
      long long due = ns_of(start) + first + sent * period;
      struct itimerspec at = {.it_value = {due / 1000000000LL, due % 1000000000LL}};
      timerfd_settime(tfd, TFD_TIMER_ABSTIME, &at, NULL);
    }
    struct epoll_event events[2];
    int n = epoll_wait(ep, events, 2, 10000);
    if (n == 0) { fprintf(stderr, "floor: no response for 10 s\n"); exit(1); }
    for (int i = 0; i < n; i++) {
      if (events[i].data.fd != s) continue;
      ssize_t r;
      while ((r = read(s, buf, sizeof buf)) > 0) bytes += r;
      if (r == 0) { fprintf(stderr, "floor: the target closed the connection\n"); exit(1); }
      received = bytes / length;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: floor PORT RATE SECONDS THREADS\n"); return 2; }
  port = atoi(argv[1]), rate = atof(argv[2]), seconds = atof(argv[3]), threads = atoi(argv[4]);
  snprintf(request, sizeof request,
           "POST /v1/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
           "content-length: %zu\r\n\r\n%s", port, strlen(BODY), BODY);
  length = response_length();
  pthread_t ids[64];
  if (threads < 1 || threads > 64) { fprintf(stderr, "floor: 1 to 64 threads\n"); return 2; }
  clock_gettime(CLOCK_MONOTONIC, &start);
  start.tv_nsec += 20000000;  // every thread ready before the first send
  for (long i = 0; i < threads; i++) pthread_create(&ids[i], NULL, client, (void *)i);
  for (long i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  struct timespec end;
  clock_gettime(CLOCK_MONOTONIC, &end);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
               usage.ru_stime.tv_usec / 1e6;
  double requests = (double)((long long)(rate * seconds) / threads * threads);
  printf("%.1f %.1f\n", requests / ((ns_of(end) - ns_of(start)) / 1e9), cpu * 1e6 / requests);
  return 0;
}
