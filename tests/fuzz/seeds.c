/* Seed corpora for the fuzz targets, made from the project's own fixtures
 * (so they follow the schemas and the rule pack as they change):
 *   bw-fuzz-seeds OUTDIR
 * writes OUTDIR/avro (each record of tests/fixtures/samples.jsonl in wire
 * format), OUTDIR/json (its lines), OUTDIR/classify (kind, rating and
 * language bytes, then title NUL body, from tests/fixtures/classify) and
 * OUTDIR/pack (the rule files). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bw_json.h"
#include "bw_serde.h"

static int nfiles;

static int put(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!(fp = fopen(path, "wb")) || fwrite(data, 1, len, fp) != len || fclose(fp)) {
        fprintf(stderr, "bw-fuzz-seeds: %s: %s\n", path, strerror(errno));
        return -1;
    }
    nfiles++;
    return 0;
}

static int mkdir_p(const char *base, const char *sub, char *out, size_t size) {
    snprintf(out, size, "%s/%s", base, sub);
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "bw-fuzz-seeds: %s: %s\n", out, strerror(errno));
        return -1;
    }
    return 0;
}

/* samples.jsonl: one file per line (json), and its wire encoding (avro). */
static int samples(bw_serde_t *sd, const char *avro_dir, const char *json_dir) {
    char line[65536], name[32], errstr[512];
    FILE *fp = fopen(BW_FIXTURE_DIR "/samples.jsonl", "r");
    int n = 0, rc = 0;

    if (!fp) {
        perror(BW_FIXTURE_DIR "/samples.jsonl");
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), fp)) {
        json_t *j = json_loads(line, 0, NULL);
        const bw_schema_t *s = bw_serde_schema(sd, json_string_value(json_object_get(j, "schema")));
        bw_record_t *rec = s ? bw_record_new(s) : NULL;
        bw_buf_t out = {0};

        snprintf(name, sizeof(name), "sample-%03d", n++);
        rc = put(json_dir, name, line, strlen(line));
        if (rec &&
            !bw_json_to_avro(s, json_object_get(j, "record"), &rec->value, errstr,
                             sizeof(errstr)) &&
            !bw_serde_encode(sd, s, &rec->value, &out, errstr, sizeof(errstr)) && rc == 0)
            rc = put(avro_dir, name, out.data, out.len);
        bw_buf_free(&out);
        bw_record_destroy(rec);
        json_decref(j);
    }
    fclose(fp);
    return rc;
}

/* The labelled reviews: one seed per review. */
static int reviews(const char *out_dir) {
    static const char *const LANGS[] = {"en", "de", "fr", "es", "it", "pt", "ja", "zh"};
    char path[4096], line[65536], name[64];
    int rc = 0;

    for (size_t l = 0; rc == 0 && l < sizeof(LANGS) / sizeof(LANGS[0]); l++) {
        FILE *fp;
        int n = 0;
        snprintf(path, sizeof(path), "%s/classify/%s.jsonl", BW_FIXTURE_DIR, LANGS[l]);
        if (!(fp = fopen(path, "r"))) {
            perror(path);
            return -1;
        }
        while (rc == 0 && fgets(line, sizeof(line), fp)) {
            json_t *j = json_loads(line, 0, NULL);
            const char *body = json_string_value(json_object_get(j, "body"));
            const char *title = json_string_value(json_object_get(j, "title"));
            char buf[65536];
            int len;
            if (body) {
                len = snprintf(buf, sizeof(buf), "%c%c%s%c%s", (char)(n % 7 + 8 * (n % 6)),
                               (char)(l + 1), title ? title : "", 0, body);
                snprintf(name, sizeof(name), "%s-%03d", LANGS[l], n++);
                if (len > 0 && (size_t)len < sizeof(buf))
                    rc = put(out_dir, name, buf, (size_t)len);
            }
            json_decref(j);
        }
        fclose(fp);
    }
    return rc;
}

static int rule_files(const char *out_dir) {
    DIR *d = opendir(BW_CLASSIFY_RULES_DIR);
    struct dirent *de;
    int rc = 0;

    if (!d) {
        perror(BW_CLASSIFY_RULES_DIR);
        return -1;
    }
    while (rc == 0 && (de = readdir(d))) {
        char path[4096];
        static char text[1 << 20];
        size_t n;
        FILE *fp;
        if (!strstr(de->d_name, ".rules"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", BW_CLASSIFY_RULES_DIR, de->d_name);
        if (!(fp = fopen(path, "r"))) {
            rc = -1;
            break;
        }
        n = fread(text, 1, sizeof(text), fp);
        fclose(fp);
        rc = put(out_dir, de->d_name, text, n);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv) {
    char errstr[512], avro[4096], json[4096], cls[4096], pack[4096];
    bw_serde_t *sd;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: bw-fuzz-seeds OUTDIR\n");
        return 2;
    }
    if (!(sd = bw_serde_new(BW_DEFAULT_SCHEMA_DIR, 1 << 20, errstr, sizeof(errstr)))) {
        fprintf(stderr, "bw-fuzz-seeds: %s\n", errstr);
        return 1;
    }
    rc = mkdir_p(argv[1], "avro", avro, sizeof(avro)) ||
         mkdir_p(argv[1], "json", json, sizeof(json)) ||
         mkdir_p(argv[1], "classify", cls, sizeof(cls)) ||
         mkdir_p(argv[1], "pack", pack, sizeof(pack)) || samples(sd, avro, json) || reviews(cls) ||
         rule_files(pack);
    bw_serde_destroy(sd);
    if (!rc)
        printf("bw-fuzz-seeds: %d seed files in %s\n", nfiles, argv[1]);
    return rc ? 1 : 0;
}
