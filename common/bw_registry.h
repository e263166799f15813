/**
 * @file bw_registry.h
 * @brief A Schema Registry client over libcurl: the Confluent REST API
 *        (also served by Apicurio's and Redpanda's registries), the few
 *        endpoints a serializer needs.
 *
 * With `schema.registry.url` set, every schema of the manifest is
 * registered (POST /subjects/{subject}/versions) or, with
 * `schema.registry.register` false, looked up (POST /subjects/{subject}),
 * and the id the registry answers is the one written in the wire header
 * and expected when reading. The subject is the record's full name
 * (`bw.ReviewEvent`: the RecordNameStrategy), so one subject serves every
 * topic a record travels on. Each schema costs one request per process
 * (ids are cached); requests time out, and a refused connection or a 5xx
 * is tried three times before the error is final. A 4xx (an incompatible
 * schema, a subject not found) is final at once.
 */
#ifndef BW_REGISTRY_H
#define BW_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "bw_err.h"

typedef struct bw_registry_s bw_registry_t;

typedef struct {
    const char *url; /* http(s)://host[:port][/prefix] */
    const char *auth; /* "user:password" for HTTP basic auth, or NULL/"" */
    bool register_schemas; /* false: only look ids up */
    int64_t timeout_ms; /* per request */
} bw_registry_conf_t;

/** @brief A client (no request is made yet); NULL with errstr on a bad url. */
bw_registry_t *bw_registry_new(const bw_registry_conf_t *conf, char *errstr, size_t errstr_size);
void bw_registry_destroy(bw_registry_t *r);

/**
 * @brief The registry's id of @p schema_json under @p subject: registered
 *        or looked up (per the conf), then cached.
 * @returns BW_ERR_SCHEMA (why in errstr: the method, the url, the HTTP
 *          status and the registry's message) when the registry refuses or
 *          answers something that is not an id; BW_ERR_IO when it cannot be
 *          reached.
 */
bw_err_t bw_registry_id(bw_registry_t *r, const char *subject, const char *schema_json, int32_t *id,
                        char *errstr, size_t errstr_size);

/** @brief HTTP requests made so far (tests check the cache). */
int64_t bw_registry_requests(const bw_registry_t *r);

#endif
