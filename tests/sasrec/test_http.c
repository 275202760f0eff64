/* sasrec serve --listen as a web back end uses it: the program ($NN_SASREC,
 * default ./sasrec) runs as a child on a port the system chooses, and curl
 * (skipped with a message when absent) or a raw socket talks to it: every
 * endpoint and error status, keep-alive, a pipelined pair answered in order,
 * an array request, the bounds (body, head, array, connections, read
 * timeout), a reload when train replaces the folder, a refused folder that
 * leaves the old model serving, and SIGTERM's exit 143. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/sasrec/fixture.h"

static char body[1 << 16];    /* the body of the last curl */
static char errout[1 << 14];  /* the server's stderr */
static pid_t server = -1;
static int port;

static const char *program(void) { return getenv("NN_SASREC") ? getenv("NN_SASREC") : "./sasrec"; }

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL); }

static int have_curl(void) { return system("command -v curl >/dev/null 2>&1") == 0; }

/* 60 users over 150 items and a small model trained on them into fixture_dir/<out> with seed. */
static void train(const char *out, int seed) {
    char cmd[1024];
    fixture_tiny_seq();
    snprintf(cmd, sizeof cmd,
             "%s train --data %s/tiny.txt --out %s/%s --epochs 2 --hidden 16 --max-len 6 --batch 16 --seed %d "
             ">/dev/null 2>%s/.train.err",
             program(), fixture_dir, fixture_dir, out, seed, fixture_dir);
    ck_assert_msg(system(cmd) == 0, "train failed");
}

/* A test that fails leaves by exit(): its server goes with it. */
static void kill_server(void) {
    if (server > 0) kill(server, SIGKILL), waitpid(server, NULL, 0);
}

/* Starts serve --listen 127.0.0.1:0 on fixture_dir/run with extra flags; waits for its port. */
static void start(const char *extra) {
    atexit(kill_server);
    char cmd[1024], path[256];
    snprintf(path, sizeof path, "%s/.serve.err", fixture_dir);
    snprintf(cmd, sizeof cmd, "exec %s serve --model %s/run --listen 127.0.0.1:0 --threads 1 %s 2>%s", program(),
             fixture_dir, extra, path);
    server = fork();
    if (server == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int tries = 0; tries < 1200; tries++) { /* up to 2 minutes (valgrind) */
        slurp(path, errout, sizeof errout);
        const char *p = strstr(errout, " port ");
        if (p && (port = atoi(p + 6)) > 0) return;
        sleep_ms(100);
    }
    ck_abort_msg("serve did not start listening: %s", errout);
}

/* Sends sig to the server and returns its exit code. */
static int stop(int sig) {
    kill(server, sig);
    int status;
    ck_assert(waitpid(server, &status, 0) == server);
    server = -1;
    char path[256];
    snprintf(path, sizeof path, "%s/.serve.err", fixture_dir);
    slurp(path, errout, sizeof errout);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs curl -s with args (the URL's http://127.0.0.1:port is $U); returns the HTTP status; the body in body. */
static int curl(const char *args) {
    char cmd[4096], path[256], code[32], url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(cmd, sizeof cmd, "U=%s; curl -s -o %s/.body -w '%%{http_code}' %s >%s/.code 2>/dev/null", url,
             fixture_dir, args, fixture_dir);
    (void)!system(cmd);
    snprintf(path, sizeof path, "%s/.body", fixture_dir);
    slurp(path, body, sizeof body);
    snprintf(path, sizeof path, "%s/.code", fixture_dir);
    slurp(path, code, sizeof code);
    return atoi(code);
}

/* A connected socket to the server. */
static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/* Reads from fd until want appears n times or the connection ends (at most 10 s); returns the bytes. */
static size_t read_until(int fd, char *buf, size_t size, const char *want, int n) {
    size_t got = 0;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        buf[got] = '\0';
        int seen = 0;
        for (const char *p = strstr(buf, want); p; p = strstr(p + 1, want)) seen++;
        if (seen >= n || got + 1 >= size) return got;
        ssize_t r = recv(fd, buf + got, size - 1 - got, 0);
        if (r <= 0) return got;
        got += (size_t)r;
    }
}

#define SKIP_WITHOUT_CURL()                                                                                            \
    if (!have_curl()) {                                                                                                \
        fprintf(stderr, "test_http: skipped: curl is not installed\n");                                                \
        return;                                                                                                        \
    }

START_TEST(every_endpoint_and_every_error_answers_with_its_status) {
    SKIP_WITHOUT_CURL();
    train("run", 1);
    start("--max-body 2048 --max-header 1024 --batch 4");
    ck_assert_int_eq(curl("$U/health"), 200);
    ck_assert_msg(strstr(body, "\"status\": \"ok\"") && strstr(body, "\"config_sha256\": \""), "%s", body);
    ck_assert_int_eq(curl("-X POST -d '{\"id\": \"one\", \"items\": [\"item-3\"], \"k\": 3}' $U/recommend"), 200);
    ck_assert_msg(strstr(body, "{\"id\": \"one\", \"items\": [") && strstr(body, "\"scores\": ["), "%s", body);
    /* an array answers as an array, in order, each element on its own */
    ck_assert_int_eq(curl("-X POST -d '[{\"id\": \"a\", \"items\": [\"item-3\"]}, {\"id\": \"b\", \"items\": []}, "
                          "{\"id\": \"c\", \"itemz\": []}]' $U/recommend"),
                     200);
    const char *a = strstr(body, "\"id\": \"a\""), *b = strstr(body, "\"id\": \"b\""), *c = strstr(body, "\"id\": \"c\"");
    ck_assert_msg(body[0] == '[' && a && b && c && a < b && b < c && strstr(b, "\"fallback\": \"popular\"") &&
                      strstr(c, "\"error\": \"unknown member"),
                  "%s", body);
    /* the errors */
    ck_assert_int_eq(curl("-X POST -d 'not json' $U/recommend"), 400);
    ck_assert_msg(strstr(body, "\"error\": \"the body is not JSON") && strstr(body, "\"status\": 400"), "%s", body);
    ck_assert_int_eq(curl("-X POST -d '{\"items\": [], \"k\": 0}' $U/recommend"), 400);
    ck_assert_msg(strstr(body, "\\\"k\\\" must be a whole number"), "%s", body);
    ck_assert_int_eq(curl("$U/nowhere"), 404);
    ck_assert_msg(strstr(body, "\"error\": \"no such endpoint"), "%s", body);
    ck_assert_int_eq(curl("$U/recommend"), 405);
    ck_assert_int_eq(curl("-X POST -d '{}' $U/health"), 405);
    ck_assert_int_eq(curl("-X POST -H 'Transfer-Encoding: chunked' -d '{\"items\": []}' $U/recommend"), 501);
    ck_assert_msg(strstr(body, "Content-Length"), "%s", body);
    /* the bounds: body, head, array */
    static char big[3000 + 200];
    strcpy(big, "-X POST -d '{\"items\": [], \"id\": \"");
    memset(big + strlen(big), 'x', 3000);
    strcpy(big + strlen(big), "\"}' $U/recommend");
    ck_assert_int_eq(curl(big), 413);
    ck_assert_msg(strstr(body, "larger than --max-body"), "%s", body);
    static char head[2000];
    snprintf(head, sizeof head, "-H 'X-Big: %01500d' $U/health", 0);
    ck_assert_int_eq(curl(head), 431);
    ck_assert_int_eq(curl("-X POST -d '[{\"items\": []}, {\"items\": []}, {\"items\": []}, {\"items\": []}, "
                          "{\"items\": []}]' $U/recommend"),
                     413);
    ck_assert_msg(strstr(body, "at most 4 (sasrec serve --batch)"), "%s", body);
    /* the metrics count all of it */
    ck_assert_int_eq(curl("$U/metrics"), 200);
    ck_assert_msg(strstr(body, "sasrec_http_requests_total{endpoint=\"/recommend\"} 6") &&
                      strstr(body, "sasrec_answers_total 5") && strstr(body, "sasrec_errors_total{kind=\"request\"} 2") &&
                      strstr(body, "sasrec_errors_total{kind=\"http_404\"} 1") &&
                      strstr(body, "sasrec_errors_total{kind=\"http_413\"} 2") &&
                      strstr(body, "sasrec_answer_latency_seconds_count 3") &&
                      strstr(body, "sasrec_model_info{digest=\""),
                  "%s", body);
    ck_assert_int_eq(stop(SIGTERM), 143);
    ck_assert_msg(strstr(errout, "SIGTERM: answering the requests in hand, then stopping"), "%s", errout);
}
END_TEST

START_TEST(keep_alive_and_a_pipelined_pair_are_answered_in_order) {
    SKIP_WITHOUT_CURL();
    train("run", 1);
    start("");
    /* curl reuses its connection for a second URL: one connect for both */
    ck_assert_int_eq(curl("-w '%{http_code} %{num_connects} ' $U/health -o /dev/null $U/health"), 200);
    char path[256], code[64];
    snprintf(path, sizeof path, "%s/.code", fixture_dir);
    slurp(path, code, sizeof code);
    ck_assert_msg(strcmp(code, "200 1 200 0 ") == 0, "codes and connects: %s", code);
    /* two requests in one write: two answers, in order, on the same connection */
    int fd = dial();
    const char *a = "{\"id\": \"p1\", \"items\": [\"item-3\"]}", *b = "{\"id\": \"p2\", \"items\": [\"item-5\"]}";
    char req[1024], buf[8192];
    int n = snprintf(req, sizeof req,
                     "POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%sPOST /recommend HTTP/1.1\r\n"
                     "Host: x\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(a), a, strlen(b), b);
    ck_assert(send(fd, req, (size_t)n, 0) == n);
    read_until(fd, buf, sizeof buf, "\"unknown\"", 2);
    const char *p1 = strstr(buf, "\"id\": \"p1\""), *p2 = strstr(buf, "\"id\": \"p2\"");
    ck_assert_msg(p1 && p2 && p1 < p2 && strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", buf);
    /* malformed HTTP: a status and a JSON error, then the connection closes */
    const char *junk = "GARBAGE\r\n\r\n";
    ck_assert(send(fd, junk, strlen(junk), 0) == (ssize_t)strlen(junk));
    read_until(fd, buf, sizeof buf, "\n}", 100);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0 && strstr(buf, "\"error\": \"a malformed") &&
                      strstr(buf, "Connection: close"),
                  "%s", buf);
    close(fd);
    ck_assert_int_eq(stop(SIGTERM), 143);
}
END_TEST

START_TEST(beyond_max_conns_503_and_a_slow_request_408) {
    SKIP_WITHOUT_CURL();
    train("run", 1);
    start("--max-conns 2 --read-timeout-ms 300");
    int a = dial(), b = dial();
    sleep_ms(300); /* both accepted */
    ck_assert_int_eq(curl("$U/health"), 503);
    ck_assert_msg(strstr(body, "too many open connections"), "%s", body);
    /* a request that stops half way is answered 408 and closed */
    const char *part = "GET /health HTTP/1.1\r\nHost";
    ck_assert(send(a, part, strlen(part), 0) == (ssize_t)strlen(part));
    char buf[2048];
    read_until(a, buf, sizeof buf, "\n}", 100);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0, "%s", buf);
    close(a);
    close(b);
    sleep_ms(300);
    ck_assert_int_eq(curl("$U/health"), 200); /* room again */
    ck_assert_int_eq(curl("$U/metrics"), 200);
    ck_assert_msg(strstr(body, "sasrec_connections_refused_total 1") && strstr(body, "kind=\"http_408\"} 1"), "%s",
                  body);
    ck_assert_int_eq(stop(SIGTERM), 143);
}
END_TEST

START_TEST(a_replaced_folder_is_reloaded_and_a_broken_one_refused) {
    SKIP_WITHOUT_CURL();
    train("run", 1);
    start("");
    ck_assert_int_eq(curl("$U/health"), 200);
    char first[65] = "";
    const char *d = strstr(body, "\"config_sha256\": \"");
    ck_assert(d);
    memcpy(first, d + 18, 64);
    train("run", 2); /* train swaps the new folder in */
    int reloaded = 0;
    for (int tries = 0; tries < 100 && !reloaded; tries++) {
        sleep_ms(100);
        ck_assert_int_eq(curl("$U/health"), 200);
        reloaded = strstr(body, "\"reloads\": 1") != NULL;
    }
    ck_assert_msg(reloaded && !strstr(body, first), "not reloaded: %s", body);
    char second[65] = "";
    memcpy(second, strstr(body, "\"config_sha256\": \"") + 18, 64);
    ck_assert_int_eq(curl("-X POST -d '{\"items\": [\"item-3\"]}' $U/recommend"), 200);
    /* a folder that fails its checks is refused on SIGHUP; the old model keeps serving */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sed -i '1s/.*/999/' %s/run/popular.txt", fixture_dir);
    ck_assert(system(cmd) == 0);
    kill(server, SIGHUP);
    int refused = 0;
    for (int tries = 0; tries < 100 && !refused; tries++) {
        sleep_ms(100);
        ck_assert_int_eq(curl("$U/metrics"), 200);
        refused = strstr(body, "sasrec_model_reload_failures_total 1") != NULL;
    }
    ck_assert_msg(refused && strstr(body, "sasrec_model_reloads_total 1") && strstr(body, second), "%s", body);
    ck_assert_int_eq(curl("-X POST -d '{\"items\": [\"item-3\"]}' $U/recommend"), 200);
    ck_assert_int_eq(stop(SIGTERM), 143);
    ck_assert_msg(strstr(errout, "reloaded") && strstr(errout, "was refused; the old model keeps serving") &&
                      strstr(errout, "popular.txt"),
                  "%s", errout);
}
END_TEST

static Suite *http_suite(void) {
    Suite *s = suite_create("http");
    TCase *tc = fixture_tcase("http");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_endpoint_and_every_error_answers_with_its_status);
    tcase_add_test(tc, keep_alive_and_a_pipelined_pair_are_answered_in_order);
    tcase_add_test(tc, beyond_max_conns_503_and_a_slow_request_408);
    tcase_add_test(tc, a_replaced_folder_is_reloaded_and_a_broken_one_refused);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(http_suite)
