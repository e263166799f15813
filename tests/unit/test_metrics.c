/* Metrics text format (types, labels, escaping, histograms) and the HTTP
 * endpoints that serve it, over a real loopback socket. */
#include "bw_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bw_http.h"
#include "bw_metrics.h"
#include "bw_metrics_def.h"

static const bw_metric_decl_t C_DECL = {BW_METRIC_COUNTER, "things_total", "Things seen", "kind"};
static const bw_metric_decl_t G_DECL = {BW_METRIC_GAUGE, "depth", "Queue depth", ""};
static const bw_metric_decl_t H_DECL = {BW_METRIC_HISTOGRAM, "lat_seconds", "Latency", ""};
static const bw_metric_decl_t L2_DECL = {BW_METRIC_COUNTER, "pairs_total", "Pairs\nwith \\ newline",
                                         "a,b"};

static char *render(bw_metrics_t *reg) {
    bw_buf_t b = {0};
    assert_int_equal(bw_metrics_render(reg, &b), BW_ERR_OK);
    return b.data;
}

static void test_text_format(void **state) {
    bw_metrics_t *reg = bw_metrics_new();
    char *text;
    bw_metric_t *m;

    (void)state;
    bw_metric_add(bw_metrics_get(reg, &C_DECL, "a\"b\\c\nd"), 3);
    bw_metric_inc(bw_metrics_get(reg, &C_DECL, "plain"));
    bw_metric_inc(bw_metrics_get(reg, &C_DECL, "plain"));
    bw_metric_set(bw_metrics_get(reg, &G_DECL, NULL), 2.5);
    m = bw_metrics_get(reg, &H_DECL, NULL);
    bw_metric_observe(m, 0.003);
    bw_metric_observe(m, 0.2);
    bw_metric_observe(m, 99);
    {
        const char *vals[] = {"x", "\xff\xfe"};
        bw_metric_inc(bw_metrics_child(bw_metrics_family(reg, &L2_DECL), vals));
    }
    text = render(reg);
    assert_non_null(
        strstr(text, "# HELP bw_things_total Things seen\n# TYPE bw_things_total counter\n"));
    assert_non_null(strstr(text, "bw_things_total{kind=\"a\\\"b\\\\c\\nd\"} 3\n"));
    assert_non_null(strstr(text, "bw_things_total{kind=\"plain\"} 2\n"));
    assert_non_null(strstr(text, "# TYPE bw_depth gauge\nbw_depth 2.5\n"));
    assert_non_null(strstr(text, "bw_lat_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "bw_lat_seconds_bucket{le=\"0.25\"} 2\n"));
    assert_non_null(strstr(text, "bw_lat_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "bw_lat_seconds_count 3\n"));
    assert_non_null(strstr(text, "# HELP bw_pairs_total Pairs\\nwith \\\\ newline\n"));
    assert_non_null(strstr(text, "bw_pairs_total{a=\"x\",b=\"??\"} 1\n"));
    free(text);
    bw_metrics_destroy(reg);
}

static void test_same_family_twice(void **state) {
    bw_metrics_t *reg = bw_metrics_new();

    (void)state;
    assert_ptr_equal(bw_metrics_family(reg, &C_DECL), bw_metrics_family(reg, &C_DECL));
    assert_ptr_equal(bw_metrics_get(reg, &C_DECL, "x"), bw_metrics_get(reg, &C_DECL, "x"));
    bw_metrics_destroy(reg);
}

static void test_markdown_table(void **state) {
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    (void)state;
    bw_metrics_print_markdown(bw_common_metrics, BW_M__CNT, fp);
    fclose(fp);
    assert_non_null(strstr(out, "| `bw_deadletters_total` | counter | reason |"));
    free(out);
}

/* Minimal HTTP/1.0 client: returns status, fills body. */
static int http_get(int port, const char *method, const char *path, char *body, size_t size) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char req[256], resp[65536];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
    char *hdr_end;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
        got += (size_t)n;
    resp[got] = '\0';
    close(fd);
    sscanf(resp, "HTTP/1.%*d %d", &status);
    hdr_end = strstr(resp, "\r\n\r\n");
    bw_strlcpy(body, hdr_end ? hdr_end + 4 : "", size);
    return status;
}

static int alerts_route(void *opaque, const bw_http_req_t *req, bw_buf_t *body,
                        const char **ctype) {
    const char *store = bw_http_req_arg(req, "store");
    (void)opaque;
    *ctype = "application/json";
    bw_buf_printf(body, "{\"store\":\"%s\"}", store ? store : "");
    return 200;
}

static void test_http_endpoints(void **state) {
    bw_metrics_t *reg = bw_metrics_new();
    char errstr[256], body[65536];
    bw_http_t *http;
    int port;

    (void)state;
    bw_metric_set(bw_metrics_get(reg, &G_DECL, NULL), 7);
    http = bw_http_new("127.0.0.1:0", reg, errstr, sizeof(errstr));
    assert_non_null(http);
    assert_int_equal(bw_http_route(http, "/alerts", alerts_route, NULL), BW_ERR_OK);
    assert_int_equal(bw_http_start(http, errstr, sizeof(errstr)), BW_ERR_OK);
    port = bw_http_port(http);
    assert_true(port > 0);

    assert_int_equal(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "bw_depth 7\n"));
    assert_int_equal(http_get(port, "GET", "/healthz", body, sizeof(body)), 200);
    assert_int_equal(http_get(port, "GET", "/readyz", body, sizeof(body)), 503);
    bw_http_set_ready(http, true);
    assert_int_equal(http_get(port, "GET", "/readyz", body, sizeof(body)), 200);
    assert_int_equal(http_get(port, "GET", "/alerts?store=s7", body, sizeof(body)), 200);
    assert_string_equal(body, "{\"store\":\"s7\"}");
    assert_int_equal(http_get(port, "GET", "/nope", body, sizeof(body)), 404);
    assert_int_equal(http_get(port, "DELETE", "/metrics", body, sizeof(body)), 405);
    bw_http_destroy(http);
    bw_metrics_destroy(reg);
}

static void test_http_bad_listen(void **state) {
    char errstr[256];

    (void)state;
    assert_null(bw_http_new("no-port-here", NULL, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "expected HOST:PORT"));
    assert_null(bw_http_new("127.0.0.1:notaport", NULL, errstr, sizeof(errstr)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_format),     cmocka_unit_test(test_same_family_twice),
        cmocka_unit_test(test_markdown_table),  cmocka_unit_test(test_http_endpoints),
        cmocka_unit_test(test_http_bad_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
