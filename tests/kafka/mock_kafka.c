/*
 * mock-kafka: a standalone librdkafka mock cluster for the integration tests.
 *
 * The cluster lives in this process, so tests can start, kill and restart
 * workers while the "brokers" keep their topics, messages and committed
 * offsets.
 *
 *   mock-kafka [--brokers N] [--topic NAME:PARTITIONS]...
 *              [--bootstrap-file PATH]
 *
 * Topics are created with min(N, 3) replicas, which is also what librdkafka
 * 2.0.2's mock cluster assigns whatever rd_kafka_mock_topic_create() asks.
 *
 * Once the cluster is up and the topics exist, the bootstrap list is printed
 * on stdout and, with --bootstrap-file, written to PATH atomically (a
 * temporary file renamed into place), so the file's existence means "ready".
 * SIGTERM or SIGINT destroys the cluster, removes PATH and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 64

struct topic_spec {
        char name[256];
        int partitions;
};

static void usage(FILE *out, const char *prog)
{
        fprintf(out,
                "usage: %s [--brokers N] [--topic NAME:PARTITIONS]..."
                " [--bootstrap-file PATH]\n"
                "  --brokers N          mock brokers (default 1)\n"
                "  --topic T:P          pre-create topic T with P partitions;"
                " repeatable\n"
                "  --bootstrap-file F   write the bootstrap list to F when"
                " ready\n",
                prog);
}

/* Parses a decimal int in [min, max]; returns -1 on error. */
static int parse_int(const char *s, int min, int max, int *out)
{
        char *end = NULL;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
                return -1;
        *out = (int)v;
        return 0;
}

/* Parses NAME:PARTITIONS; returns -1 on error. */
static int parse_topic(const char *arg, struct topic_spec *t)
{
        const char *colon = strrchr(arg, ':');
        size_t name_len;

        if (colon == NULL || colon == arg)
                return -1;
        name_len = (size_t)(colon - arg);
        if (name_len >= sizeof(t->name))
                return -1;
        if (parse_int(colon + 1, 1, 100000, &t->partitions) != 0)
                return -1;
        memcpy(t->name, arg, name_len);
        t->name[name_len] = '\0';
        return 0;
}

/* Writes CONTENT plus a newline to PATH via a temporary file and rename(2). */
static int write_atomically(const char *path, const char *content)
{
        char tmp[PATH_MAX];
        FILE *f;
        int n;

        n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
        if (n < 0 || (size_t)n >= sizeof(tmp)) {
                fprintf(stderr, "mock-kafka: path too long: %s\n", path);
                return -1;
        }
        f = fopen(tmp, "w");
        if (f == NULL) {
                fprintf(stderr, "mock-kafka: %s: %s\n", tmp, strerror(errno));
                return -1;
        }
        if (fprintf(f, "%s\n", content) < 0 || fflush(f) != 0 ||
            fsync(fileno(f)) != 0) {
                fprintf(stderr, "mock-kafka: %s: %s\n", tmp, strerror(errno));
                fclose(f);
                unlink(tmp);
                return -1;
        }
        if (fclose(f) != 0 || rename(tmp, path) != 0) {
                fprintf(stderr, "mock-kafka: %s: %s\n", path, strerror(errno));
                unlink(tmp);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"brokers", required_argument, NULL, 'b'},
            {"topic", required_argument, NULL, 't'},
            {"bootstrap-file", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        static struct topic_spec topics[MAX_TOPICS];
        int topic_cnt = 0;
        int brokers = 1;
        const char *bootstrap_file = NULL;
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        const char *bootstraps;
        sigset_t sigs;
        int sig = 0;
        int opt;
        int i;

        while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (opt) {
                case 'b':
                        if (parse_int(optarg, 1, 64, &brokers) != 0) {
                                fprintf(stderr,
                                        "mock-kafka: bad --brokers: %s\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 't':
                        if (topic_cnt == MAX_TOPICS) {
                                fprintf(stderr,
                                        "mock-kafka: more than %d topics\n",
                                        MAX_TOPICS);
                                return 2;
                        }
                        if (parse_topic(optarg, &topics[topic_cnt]) != 0) {
                                fprintf(stderr,
                                        "mock-kafka: bad --topic: %s "
                                        "(want NAME:PARTITIONS)\n",
                                        optarg);
                                return 2;
                        }
                        topic_cnt++;
                        break;
                case 'f':
                        bootstrap_file = optarg;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        return 0;
                default:
                        usage(stderr, argv[0]);
                        return 2;
                }
        }
        if (optind != argc) {
                usage(stderr, argv[0]);
                return 2;
        }
        /*
         * Block the stop signals before librdkafka starts its threads, so
         * they inherit the mask and sigwait() below is the only receiver.
         */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
                fprintf(stderr, "mock-kafka: pthread_sigmask failed\n");
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);

        conf = rd_kafka_conf_new();
        /* The handle only hosts the cluster: no notice about its missing
         * bootstrap.servers. */
        if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "mock-kafka: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (rk == NULL) {
                fprintf(stderr, "mock-kafka: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, brokers);
        if (mcluster == NULL) {
                fprintf(stderr, "mock-kafka: cannot create mock cluster\n");
                rd_kafka_destroy(rk);
                return 1;
        }
        for (i = 0; i < topic_cnt; i++) {
                rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
                    mcluster, topics[i].name, topics[i].partitions,
                    brokers < 3 ? brokers : 3);
                if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                        fprintf(stderr, "mock-kafka: topic %s: %s\n",
                                topics[i].name, rd_kafka_err2str(err));
                        rd_kafka_mock_cluster_destroy(mcluster);
                        rd_kafka_destroy(rk);
                        return 1;
                }
        }

        bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
        if (bootstrap_file != NULL &&
            write_atomically(bootstrap_file, bootstraps) != 0) {
                rd_kafka_mock_cluster_destroy(mcluster);
                rd_kafka_destroy(rk);
                return 1;
        }
        printf("%s\n", bootstraps);
        fflush(stdout);

        while (sigwait(&sigs, &sig) != 0)
                ;
        fprintf(stderr, "mock-kafka: signal %d, shutting down\n", sig);

        if (bootstrap_file != NULL)
                unlink(bootstrap_file);
        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
