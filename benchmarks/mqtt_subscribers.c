/* Many bare MQTT 3.1.1 QoS 1 subscribers in one process, for benchmarks/events.py.
 *
 *   cc -O2 -o mqtt_subscribers benchmarks/mqtt_subscribers.c
 *   ./mqtt_subscribers HOST PORT TOPIC COUNT [QOS]
 *
 * The same protocol and output as mqtt_subscribers.js, with one epoll loop in C:
 * at 1000 subscribers x 100 messages/s the Node.js version spends ~40 % of a core
 * in JavaScript on top of its ~55 % of system calls, on a 2-core machine that the
 * broker and the servient share with it. Every subscriber still reads each PUBLISH
 * and acknowledges it at once (one write of PUBACKs per read), as a real client does.
 *
 * Prints "connected" once every SUBACK has arrived, then reads "FIRST LAST" on
 * stdin, closes the connections and prints one JSON line:
 * {"expected", "received", "latencies" (seconds), "cpu" (seconds)}.
 * Payloads are JSON [seq, sent] with `sent` in Unix seconds (same host, one clock).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536

typedef struct {
    int fd;
    size_t used;
    unsigned char buffer[BUFFER];
    long *seqs;      /* sequence numbers received, in arrival order */
    double *delays;  /* their latencies */
    size_t count, capacity;
} subscriber;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t put_string(unsigned char *out, const char *text) {
    size_t length = strlen(text);
    out[0] = length >> 8;
    out[1] = length & 255;
    memcpy(out + 2, text, length);
    return length + 2;
}

/* The fixed header of a packet whose body is `length` bytes; returns its size. */
static size_t put_header(unsigned char *out, unsigned char kind, size_t length) {
    size_t at = 0;
    out[at++] = kind;
    do {
        unsigned char byte = length % 128;
        length /= 128;
        out[at++] = byte | (length ? 128 : 0);
    } while (length);
    return at;
}

static int start(subscriber *s, struct sockaddr_in *address, const char *topic, int qos,
                 int index, int epoll) {
    unsigned char body[512], packet[1024];
    size_t length, at;
    char id[32];
    int one = 1;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)address, sizeof *address) < 0) {
        perror("connect");
        return -1;
    }
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    snprintf(id, sizeof id, "c%d", index);
    length = put_string(body, "MQTT");
    body[length++] = 4;  /* protocol level 3.1.1 */
    body[length++] = 2;  /* clean session */
    body[length++] = 0;
    body[length++] = 60; /* keepalive */
    length += put_string(body + length, id);
    at = put_header(packet, 0x10, length);
    memcpy(packet + at, body, length);
    at += length;
    body[0] = 0;
    body[1] = 1; /* packet id */
    length = 2 + put_string(body + 2, topic);
    body[length++] = qos; /* the subscription's QoS: 1 unless asked */
    size_t head = put_header(packet + at, 0x82, length);
    memcpy(packet + at + head, body, length);
    at += head + length;
    if (write(s->fd, packet, at) != (ssize_t)at) {
        perror("write");
        return -1;
    }
    fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = s};
    return epoll_ctl(epoll, EPOLL_CTL_ADD, s->fd, &event);
}

static void keep(subscriber *s, long seq, double delay) {
    if (s->count == s->capacity) {
        s->capacity = s->capacity ? 2 * s->capacity : 1024;
        s->seqs = realloc(s->seqs, s->capacity * sizeof *s->seqs);
        s->delays = realloc(s->delays, s->capacity * sizeof *s->delays);
    }
    s->seqs[s->count] = seq;
    s->delays[s->count++] = delay;
}

/* Read what came, keep each PUBLISH's latency, acknowledge them in one write. */
static int readable(subscriber *s, int *subscribed) {
    ssize_t got = read(s->fd, s->buffer + s->used, BUFFER - s->used);
    if (got <= 0)
        return got == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
    double received = now();
    unsigned char acks[4 * 1024];
    size_t nacks = 0, at = 0, end = s->used + got;
    while (end - at >= 2) {
        size_t length = 0, multiplier = 1, position = at + 1;
        int complete = 0;
        while (position < end) {
            unsigned char byte = s->buffer[position++];
            length += (byte & 127) * multiplier;
            multiplier *= 128;
            if (!(byte & 128)) {
                complete = 1;
                break;
            }
        }
        if (!complete || position + length > end)
            break;
        unsigned char kind = s->buffer[at];
        unsigned char *body = s->buffer + position;
        if (kind >> 4 == 3) {
            size_t offset = 2 + ((size_t)body[0] << 8 | body[1]);
            if ((kind >> 1) & 3) {
                if (nacks + 4 > sizeof acks) {
                    if (write(s->fd, acks, nacks) != (ssize_t)nacks)
                        return -1;
                    nacks = 0;
                }
                acks[nacks++] = 0x40;
                acks[nacks++] = 2;
                acks[nacks++] = body[offset];
                acks[nacks++] = body[offset + 1];
                offset += 2;
            }
            char payload[128];
            size_t size = length - offset < sizeof payload - 1 ? length - offset : sizeof payload - 1;
            memcpy(payload, body + offset, size);
            payload[size] = 0;
            char *cursor = payload + 1, *rest;
            long seq = strtol(cursor, &rest, 10);
            double sent = strtod(rest + 1, NULL);
            if (seq)
                keep(s, seq, received - sent);
        } else if (kind >> 4 == 9) {
            *subscribed += 1;
        }
        at = position + length;
    }
    memmove(s->buffer, s->buffer + at, end - at);
    s->used = end - at;
    if (nacks && write(s->fd, acks, nacks) != (ssize_t)nacks)
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT TOPIC COUNT [QOS]\n", argv[0]);
        return 2;
    }
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    int count = atoi(argv[4]), qos = argc == 6 ? atoi(argv[5]) : 1;
    int subscribed = 0, started = 0, announced = 0;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &address.sin_addr);
    subscriber *subscribers = calloc(count, sizeof *subscribers);
    int epoll = epoll_create1(0);
    struct epoll_event input = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll, EPOLL_CTL_ADD, 0, &input);
    struct epoll_event events[1024];
    char line[256];
    size_t line_used = 0;
    for (;;) {
        /* 50 connections every 50 ms: a burst of 1000 would overflow the listen backlog */
        for (int end = started + 50 < count ? started + 50 : count; started < end; started++)
            if (start(&subscribers[started], &address, argv[3], qos, started, epoll) < 0)
                return 1;
        int ready = epoll_wait(epoll, events, 1024, started < count ? 50 : -1);
        for (int i = 0; i < ready; i++) {
            subscriber *s = events[i].data.ptr;
            if (s == NULL) {
                ssize_t got = read(0, line + line_used, sizeof line - 1 - line_used);
                if (got <= 0)
                    return 1;
                line_used += got;
                line[line_used] = 0;
                if (strchr(line, '\n'))
                    goto report;
                continue;
            }
            if (readable(s, &subscribed) < 0) {
                epoll_ctl(epoll, EPOLL_CTL_DEL, s->fd, NULL);
                close(s->fd);
            }
        }
        if (!announced && subscribed == count) {
            announced = 1;
            printf("connected\n");
            fflush(stdout);
        }
    }
report:;
    long first, last;
    sscanf(line, "%ld %ld", &first, &last);
    long span = last - first + 1, received = 0;
    unsigned char *seen = malloc(span > 0 ? span : 1);
    printf("{\"expected\":%ld,\"latencies\":[", span * count);
    int comma = 0;
    for (int n = 0; n < count; n++) {
        subscriber *s = &subscribers[n];
        close(s->fd);
        memset(seen, 0, span > 0 ? span : 1);
        for (size_t k = 0; k < s->count; k++) {
            long seq = s->seqs[k];
            if (seq < first || seq > last || seen[seq - first])
                continue;
            seen[seq - first] = 1;
            received++;
            printf(comma ? ",%.6f" : "%.6f", s->delays[k]);
            comma = 1;
        }
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec / 1e6;
    printf("],\"received\":%ld,\"cpu\":%.3f}\n", received, cpu);
    fflush(stdout);
    return 0;
}
