/* What every bench prints first: the command line and the machine, so a
 * figure is never quoted without where it came from. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static inline void bench_header(int argc, char **argv) {
    struct utsname u;
    char line[256], model[256] = "unknown CPU";
    FILE *fp = fopen("/proc/cpuinfo", "r");

    while (fp && fgets(line, sizeof(line), fp)) {
        if (!strncmp(line, "model name", 10)) {
            char *colon = strchr(line, ':');
            if (colon) {
                snprintf(model, sizeof(model), "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
            }
            break;
        }
    }
    if (fp)
        fclose(fp);
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    uname(&u);
    printf("\nmachine: %s %s %s, %s, %ld online CPUs\n", u.sysname, u.release, u.machine, model,
           sysconf(_SC_NPROCESSORS_ONLN));
}

#endif
