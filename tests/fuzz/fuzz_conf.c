/* libFuzzer: the configuration a stage is started with. The input is a
 * config file, then (after a NUL byte) command-line words separated by NUL
 * bytes, read with the common key table and one of each key type. Every
 * input is loaded or refused with a reason, no value lands outside its
 * range or choices, and nothing leaks either way. */
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "bw_conf.h"
#include "bw_proc.h"
#include "fuzz.h"

typedef struct {
    char *mode;
    int64_t count;
    double ratio;
    bool flag;
} own_t;

#define K(f) offsetof(own_t, f)
static const bw_conf_def_t OWN[] = {
    {"own.mode", BW_CONF_STR, K(mode), "fast", BW_CONF_NORANGE, "fast|safe", "a choice"},
    {"own.count", BW_CONF_INT, K(count), "10", 1, 1000000, NULL, "an integer in a range"},
    {"own.ratio", BW_CONF_DBL, K(ratio), "0.5", 0, 1, NULL, "a number in a range"},
    {"own.flag", BW_CONF_BOOL, K(flag), "false", BW_CONF_NORANGE, NULL, "a boolean"},
};

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    int fd;
    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "/tmp/bw_fuzz_conf_XXXXXX");
    if ((fd = mkstemp(path)) < 0)
        fuzz_die("mkstemp failed");
    close(fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t flen = nul ? (size_t)(nul - data) : size;
    char errstr[1024], *words = NULL, *argv[66] = {"fuzz"};
    int argc = 1;
    bw_common_conf_t common = {0};
    own_t own = {0};
    bw_conf_t conf;
    FILE *fp = fopen(path, "w");

    if (!fp || fwrite(data, 1, flen, fp) != flen || fclose(fp))
        fuzz_die("cannot write %s", path);
    if (nul && (words = malloc(size - flen))) {
        memcpy(words, nul + 1, size - flen - 1);
        words[size - flen - 1] = '\0';
        for (char *p = words; argc < 65 && p < words + (size - flen - 1); p += strlen(p) + 1)
            argv[argc++] = p;
    }
    argv[argc] = NULL;
    bw_conf_init(&conf, "fuzz");
    if (!bw_conf_add_section(&conf, bw_common_conf_defs, bw_common_conf_ndefs, &common, errstr,
                             sizeof(errstr)) &&
        !bw_conf_add_section(&conf, OWN, sizeof(OWN) / sizeof(OWN[0]), &own, errstr,
                             sizeof(errstr)) &&
        !bw_conf_load_file(&conf, path, errstr, sizeof(errstr)))
        (void)bw_conf_load_args(&conf, argc, argv, errstr, sizeof(errstr));
    if (!own.mode)
        fuzz_die("config table refused: %s", errstr);
    if (own.count < 1 || own.count > 1000000 || own.ratio < 0 || own.ratio > 1 ||
        (strcmp(own.mode, "fast") && strcmp(own.mode, "safe")))
        fuzz_die("a value outside its range was accepted");
    bw_conf_destroy(&conf);
    free(words);
    return 0;
}
