#include "bw_registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_util.h"

/* An answer larger than this is not a registry's (schemas are small). */
#define MAX_ANSWER (1024 * 1024)
#define ATTEMPTS 3

typedef struct {
    char *subject, *schema;
    int32_t id;
} cached_t;

struct bw_registry_s {
    CURL *curl;
    char *url, *auth;
    bool register_schemas;
    long timeout_ms;
    cached_t *cache;
    size_t ncache, capcache;
    int64_t requests;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *opaque) {
    bw_buf_t *b = opaque;
    size_t n = size * nmemb;

    if (b->len + n > MAX_ANSWER || !bw_buf_append(b, ptr, n))
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    return n;
}

bw_registry_t *bw_registry_new(const bw_registry_conf_t *conf, char *errstr, size_t errstr_size) {
    static bool curl_ready;
    bw_registry_t *r;
    size_t len;

    if (!conf->url || (strncmp(conf->url, "http://", 7) && strncmp(conf->url, "https://", 8))) {
        bw_errstr_set(errstr, errstr_size,
                      "schema.registry.url: \"%s\" is not an http:// or https:// url",
                      conf->url ? conf->url : "");
        return NULL;
    }
    /* once, from the main thread before any other thread runs (libcurl's rule) */
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
            bw_errstr_set(errstr, errstr_size, "libcurl did not initialise");
            return NULL;
        }
        curl_ready = true;
    }
    if (!(r = calloc(1, sizeof(*r))) || !(r->curl = curl_easy_init()) ||
        !(r->url = strdup(conf->url)) || !(r->auth = strdup(conf->auth ? conf->auth : ""))) {
        bw_registry_destroy(r);
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    len = strlen(r->url);
    while (len > 0 && r->url[len - 1] == '/')
        r->url[--len] = '\0';
    r->register_schemas = conf->register_schemas;
    r->timeout_ms = conf->timeout_ms > 0 ? (long)conf->timeout_ms : 5000;
    return r;
}

void bw_registry_destroy(bw_registry_t *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->ncache; i++) {
        free(r->cache[i].subject);
        free(r->cache[i].schema);
    }
    free(r->cache);
    if (r->curl)
        curl_easy_cleanup(r->curl);
    free(r->url);
    free(r->auth);
    free(r);
}

int64_t bw_registry_requests(const bw_registry_t *r) {
    return r->requests;
}

/* A short, printable excerpt of an answer that is not what was expected. */
static void excerpt(const bw_buf_t *b, char *out, size_t size) {
    size_t n = 0;

    for (size_t i = 0; b->data && i < b->len && n + 1 < size && n < 120; i++)
        out[n++] = isprint((unsigned char)b->data[i]) ? b->data[i] : '.';
    out[n] = '\0';
}

/* POST @p body to @p url; *status and the answer in @p answer. Tries again
 * on a transport error or a 5xx. */
static bw_err_t post(bw_registry_t *r, const char *url, const char *body, long *status,
                     bw_buf_t *answer, char *errstr, size_t errstr_size) {
    struct curl_slist *headers = NULL, *h;
    CURLcode rc = CURLE_OK;
    bw_err_t err = BW_ERR_IO;

    headers = curl_slist_append(NULL, "Content-Type: application/vnd.schemaregistry.v1+json");
    h = headers ? curl_slist_append(headers, "Accept: application/vnd.schemaregistry.v1+json, "
                                             "application/json")
                : NULL;
    if (!h) {
        curl_slist_free_all(headers);
        bw_errstr_set(errstr, errstr_size, "out of memory");
        return BW_ERR_NOMEM;
    }
    headers = h;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (attempt)
            bw_sleep_ms(200LL << attempt);
        bw_buf_reset(answer);
        curl_easy_reset(r->curl);
        curl_easy_setopt(r->curl, CURLOPT_URL, url);
        curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, r->timeout_ms);
        curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, answer);
        if (*r->auth) {
            curl_easy_setopt(r->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(r->curl, CURLOPT_USERPWD, r->auth);
        }
        r->requests++;
        rc = curl_easy_perform(r->curl);
        if (rc != CURLE_OK) {
            bw_errstr_set(errstr, errstr_size, "schema registry: POST %s: %s", url,
                          rc == CURLE_WRITE_ERROR ? "answer over 1 MiB" : curl_easy_strerror(rc));
            if (rc == CURLE_WRITE_ERROR)
                break;
            continue;
        }
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
        err = BW_ERR_OK;
        if (*status < 500)
            break;
    }
    curl_slist_free_all(headers);
    return err;
}

/* The registry's reason for a refusal: {"error_code": N, "message": "..."}. */
static void refusal(const char *url, long status, const bw_buf_t *answer, char *errstr,
                    size_t errstr_size) {
    json_t *j = answer->data ? json_loadb(answer->data, answer->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "message"));
    json_int_t code = json_integer_value(json_object_get(j, "error_code"));
    char ex[128];

    if (msg)
        bw_errstr_set(errstr, errstr_size, "schema registry: POST %s: HTTP %ld (error %lld): %s",
                      url, status, (long long)code, msg);
    else {
        excerpt(answer, ex, sizeof(ex));
        bw_errstr_set(errstr, errstr_size, "schema registry: POST %s: HTTP %ld: %s", url, status,
                      *ex ? ex : "(no body)");
    }
    json_decref(j);
}

static bool remember(bw_registry_t *r, const char *subject, const char *schema, int32_t id) {
    cached_t *c;

    if (!bw_grow((void **)&r->cache, &r->capcache, r->ncache, sizeof(*r->cache)))
        return false;
    c = &r->cache[r->ncache];
    if (!(c->subject = strdup(subject)) || !(c->schema = strdup(schema))) {
        free(c->subject);
        return false;
    }
    c->id = id;
    r->ncache++;
    return true;
}

bw_err_t bw_registry_id(bw_registry_t *r, const char *subject, const char *schema_json, int32_t *id,
                        char *errstr, size_t errstr_size) {
    json_t *req = NULL, *ans = NULL;
    char *body = NULL, *esc = NULL, ex[128];
    bw_buf_t url = {0}, answer = {0};
    long status = 0;
    json_int_t v;
    bw_err_t err;

    for (size_t i = 0; i < r->ncache; i++)
        if (!strcmp(r->cache[i].subject, subject) && !strcmp(r->cache[i].schema, schema_json)) {
            *id = r->cache[i].id;
            return BW_ERR_OK;
        }
    if (!(req = json_pack("{s:s}", "schema", schema_json)) || !(body = json_dumps(req, 0)) ||
        !(esc = curl_easy_escape(r->curl, subject, 0)) ||
        !bw_buf_printf(&url, "%s/subjects/%s%s", r->url, esc,
                       r->register_schemas ? "/versions" : "")) {
        bw_errstr_set(errstr, errstr_size, "out of memory");
        err = BW_ERR_NOMEM;
        goto out;
    }
    if ((err = post(r, url.data, body, &status, &answer, errstr, errstr_size)))
        goto out;
    err = BW_ERR_SCHEMA;
    if (status != 200) {
        refusal(url.data, status, &answer, errstr, errstr_size);
        if (status >= 500) /* the registry's trouble, not the schema's */
            err = BW_ERR_IO;
        goto out;
    }
    ans = answer.data ? json_loadb(answer.data, answer.len, 0, NULL) : NULL;
    if (!json_is_integer(json_object_get(ans, "id")) ||
        (v = json_integer_value(json_object_get(ans, "id"))) < 0 || v > INT32_MAX) {
        excerpt(&answer, ex, sizeof(ex));
        bw_errstr_set(errstr, errstr_size,
                      "schema registry: POST %s: HTTP 200 without a schema id: %s", url.data,
                      *ex ? ex : "(no body)");
        goto out;
    }
    *id = (int32_t)v;
    err = remember(r, subject, schema_json, *id) ? BW_ERR_OK : BW_ERR_NOMEM;
    if (err)
        bw_errstr_set(errstr, errstr_size, "out of memory");
out:
    json_decref(req);
    json_decref(ans);
    free(body);
    curl_free(esc);
    bw_buf_free(&url);
    bw_buf_free(&answer);
    return err;
}
