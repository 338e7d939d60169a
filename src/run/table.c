#include "run/table.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/run_store.h"
#include "run/experiment.h"
#include "run/methods.h"
#include "run/table_presets.h"

#define CELL_MAX_ARGS 48

typedef struct {
    const char *model, *method;
    const TablePreset *preset;
    char run_dir[1024];
    char command[4096];
    char log[1400];
    double value, wall;
    int ok, reused;
    char error[1400];
} Cell;

/* The `qat train` arguments of a cell. fp_ckpt: the FP checkpoint (quantized cells). */
static int cell_args(const TableOptions *o, const Cell *c, const char *fp_ckpt, char store[][256],
                     const char **argv) {
    int n = 0;
    int quant = strcmp(c->method, "no_quant") != 0;
    argv[n++] = "train";
    argv[n++] = "--model";
    argv[n++] = c->model;
    argv[n++] = "--quantizer";
    argv[n++] = c->method;
    snprintf(store[0], 256, "%llu", (unsigned long long)o->seed);
    argv[n++] = "--seed";
    argv[n++] = store[0];
    snprintf(store[1], 256, "%d", o->threads);
    argv[n++] = "--threads";
    argv[n++] = store[1];
    argv[n++] = "--output-dir";
    argv[n++] = o->output_dir;
    if (quant) {
        argv[n++] = "--from-pretrained";
        argv[n++] = fp_ckpt;
        snprintf(store[2], 256, "quantizer.bit_width=%d", o->bits);
        argv[n++] = "--set";
        argv[n++] = store[2];
    }
    const char *const *sets = !quant ? c->preset->fp : strcmp(c->method, "adaround") == 0 ? c->preset->ptq : c->preset->qat;
    for (int i = 0; i < PRESET_MAX_SETS && sets[i]; i++) {
        argv[n++] = "--set";
        argv[n++] = sets[i];
    }
    argv[n] = NULL;
    QAT_ASSERT(n < CELL_MAX_ARGS);
    return n;
}

/* Where the cell's run lives: the same names `qat train` will use. */
static void cell_run_dir(const TableOptions *o, Cell *c, const char *fp_ckpt) {
    char store[4][256];
    const char *argv[CELL_MAX_ARGS];
    cell_args(o, c, fp_ckpt, store, argv);
    TrainOptions t = {0};
    t.model = c->model;
    t.quantizer = c->method;
    t.quantizer_config = "default";
    t.from_pretrained = strcmp(c->method, "no_quant") ? fp_ckpt : NULL;
    t.output_dir = o->output_dir;
    t.seed = o->seed;
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], "--set") == 0) t.sets[t.nsets++] = argv[i + 1];
    ConfigGrid grid;
    experiment_load_grid(&t, &grid);
    QAT_ASSERT(config_grid_count(&grid) == 1);
    Config cfg;
    config_grid_get(&grid, 0, &cfg);
    char experiment[256], run_name[256];
    experiment_names(&t, &cfg, experiment, sizeof experiment, run_name, sizeof run_name);
    snprintf(c->run_dir, sizeof c->run_dir, "%s/%s/%s", o->output_dir, experiment, run_name);
    config_grid_free(&cfg);
    config_grid_free(&grid);
    /* The command a user runs to reproduce this cell. */
    size_t off = (size_t)snprintf(c->command, sizeof c->command, "build/qat");
    for (int i = 0; argv[i] && off < sizeof c->command; i++)
        off += (size_t)snprintf(c->command + off, sizeof c->command - off, " %s", argv[i]);
}

/* Reads value and wall time of a finished run; 0 when there is none. */
static int cell_read_result(Cell *c) {
    RunResult r;
    if (!run_store_read_result(c->run_dir, c->preset->metric, &r)) return 0;
    c->value = r.value;
    c->wall = r.wall_seconds;
    if (isnan(c->value)) {
        snprintf(c->error, sizeof c->error, "%s/result.json has no metric '%s'", c->run_dir, c->preset->metric);
        return 0;
    }
    return 1;
}

/* Stops: each cell runs in its own process group, so a Ctrl-C in the terminal reaches the
 * table only; the table passes every SIGINT/SIGTERM on to the running cell (which saves its
 * resume state and exits 130/143; a second Ctrl-C ends it at once) and then stops. */
static volatile pid_t g_cell_pid;
static volatile sig_atomic_t g_table_stop;

static void on_table_stop(int sig) {
    g_table_stop = sig;
    pid_t pid = g_cell_pid;
    if (pid > 0) kill(pid, sig);
    else _exit(128 + sig);
}

static void catch_table_stops(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_table_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int cell_spawn(const TableOptions *o, Cell *c, const char *fp_ckpt) {
    char store[4][256];
    const char *argv[CELL_MAX_ARGS + 1];
    argv[0] = "qat";
    cell_args(o, c, fp_ckpt, store, argv + 1);
    char error_file[1500];
    snprintf(error_file, sizeof error_file, "%s.error", c->log);
    unlink(error_file);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) qat_die("cannot start a run: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* the table killed: the cell saves and stops */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        setenv("QAT_ERROR_FILE", error_file, 1); /* why it failed, for the report */
        /* a resumed cell's log goes on after the interrupted one's */
        char state[1100];
        snprintf(state, sizeof state, "%s/resume.state", c->run_dir);
        int fd = open(c->log, O_WRONLY | O_CREAT | (access(state, F_OK) == 0 ? O_APPEND : O_TRUNC), 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv("/proc/self/exe", (char *const *)argv);
        _exit(127);
    }
    g_cell_pid = pid;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    g_cell_pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
    if (g_table_stop) {
        printf("    interrupted (the cell keeps its resume state); the same command resumes the table\n");
        fflush(stdout);
        exit(128 + g_table_stop);
    }
    /* The run's error message, for the report. */
    FILE *f = fopen(error_file, "r");
    if (f && fgets(c->error, sizeof c->error, f)) {
        c->error[strcspn(c->error, "\n")] = '\0';
    } else if (WIFEXITED(status)) {
        snprintf(c->error, sizeof c->error, "exit status %d", WEXITSTATUS(status));
    } else {
        snprintf(c->error, sizeof c->error, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    if (f) fclose(f);
    return 0;
}

static void write_tables(const TableOptions *o, Cell *cells, int ncells, double total_wall);
static void print_tables(FILE *f, const TableOptions *o, const Cell *cells, int n);

int table_run(const TableOptions *o) {
    int nm = o->nmethods;
    Cell cells[TABLE_MAX_MODELS * TABLE_MAX_METHODS];
    int ncells = 0;
    char logs[1024];
    snprintf(logs, sizeof logs, "%s/table_logs", o->output_dir);
    make_dirs(logs);
    double t0 = runtime_now();
    catch_table_stops();
    for (int mi = 0; mi < o->nmodels; mi++) {
        const TablePreset *pr = table_preset(o->preset, o->models[mi]);
        QAT_ASSERT(pr != NULL);
        char fp_ckpt[1100] = "";
        for (int k = 0; k < nm; k++) {
            Cell *c = &cells[ncells++];
            memset(c, 0, sizeof *c);
            c->model = o->models[mi];
            c->method = o->methods[k];
            c->preset = pr;
            int quant = strcmp(c->method, "no_quant") != 0;
            snprintf(c->log, sizeof c->log, "%s/%s_%s_%dbit_%s.log", logs, c->model, c->method, o->bits, o->preset);
            printf("[%d/%d] %s %s: ", ncells, o->nmodels * nm, c->model, c->method);
            fflush(stdout);
            if (quant && !fp_ckpt[0]) {
                snprintf(c->error, sizeof c->error, "no FP checkpoint (the no_quant cell failed)");
                printf("skipped: %s\n", c->error);
                continue;
            }
            cell_run_dir(o, c, fp_ckpt);
            if (cell_read_result(c)) {
                c->ok = c->reused = 1;
                printf("%.4f (reused %s)\n", c->value, c->run_dir);
            } else {
                printf("running (log: %s)\n", c->log);
                double tc = runtime_now();
                if (cell_spawn(o, c, fp_ckpt) && cell_read_result(c)) {
                    c->ok = 1;
                    printf("    %s = %.4f in %.0f s\n", pr->metric, c->value, runtime_now() - tc);
                } else {
                    printf("    FAILED: %s (log: %s)\n", c->error, c->log);
                }
            }
            if (!quant && c->ok) snprintf(fp_ckpt, sizeof fp_ckpt, "%s/model.ckpt", c->run_dir);
        }
    }
    write_tables(o, cells, ncells, runtime_now() - t0);
    printf("\n");
    print_tables(stdout, o, cells, ncells);
    int failed = 0;
    for (int i = 0; i < ncells; i++) failed += !cells[i].ok;
    return failed;
}

/* ---- output ---- */

static const Cell *find_cell(const Cell *cells, int n, const char *model, const char *method) {
    for (int i = 0; i < n; i++)
        if (!strcmp(cells[i].model, model) && !strcmp(cells[i].method, method)) return &cells[i];
    return NULL;
}

static double relative(const Cell *cells, int n, const Cell *c) {
    const Cell *fp = find_cell(cells, n, c->model, "no_quant");
    if (!c->ok || !fp || !fp->ok || fp->value == 0.0) return NAN;
    return 100.0 * c->value / fp->value;
}

static const char *method_title(const char *m) {
    const QuantMethod *qm = quant_method_find(m);
    return qm ? qm->title : m;
}

/* Table 1 (absolute) and Table 2 (% of no quantization) as Markdown. */
static void print_tables(FILE *f, const TableOptions *o, const Cell *cells, int n) {
    for (int t = 0; t < 2; t++) {
        fprintf(f, "%s at W%dA%d (%s preset)%s\n\n", t ? "Table 2: % of no quantization" : "Table 1: absolute",
                o->bits, o->bits, o->preset, "");
        fprintf(f, "| Method |");
        for (int m = 0; m < o->nmodels; m++) fprintf(f, " %s |", table_preset(o->preset, o->models[m])->label);
        fprintf(f, "\n|---|");
        for (int m = 0; m < o->nmodels; m++) fprintf(f, "---|");
        fprintf(f, "\n");
        for (int k = 0; k < o->nmethods; k++) {
            fprintf(f, "| %s |", method_title(o->methods[k]));
            for (int m = 0; m < o->nmodels; m++) {
                const Cell *c = find_cell(cells, n, o->models[m], o->methods[k]);
                double v = t ? relative(cells, n, c) : (c && c->ok ? c->value : NAN);
                if (isnan(v)) fprintf(f, " failed |");
                else fprintf(f, t ? " %.1f |" : " %.4f |", v);
            }
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
    }
}

static void write_markdown(const TableOptions *o, const Cell *cells, int n, double total_wall) {
    char path[1100];
    snprintf(path, sizeof path, "%s/table_%dbit.md", o->output_dir, o->bits);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    print_tables(f, o, cells, n);
    fprintf(f, "Cells (seed %llu, %d threads; total %.0f s this invocation):\n\n", (unsigned long long)o->seed,
            o->threads, total_wall);
    fprintf(f, "| model | method | value | run wall time (s) | command |\n|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const Cell *c = &cells[i];
        if (c->ok) fprintf(f, "| %s | %s | %.4f | %.0f | `%s` |\n", c->model, c->method, c->value, c->wall, c->command);
        else fprintf(f, "| %s | %s | failed: %s | - | `%s` |\n", c->model, c->method, c->error, c->command);
    }
    atomic_file_commit(&af);
}

static void write_csv(const TableOptions *o, const Cell *cells, int n) {
    char path[1100];
    snprintf(path, sizeof path, "%s/table_%dbit.csv", o->output_dir, o->bits);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fprintf(f, "model,method,bits,metric,value,relative_percent,wall_seconds,run\n");
    for (int i = 0; i < n; i++) {
        const Cell *c = &cells[i];
        double r = relative(cells, n, c);
        fprintf(f, "%s,%s,%d,%s,", c->model, c->method, strcmp(c->method, "no_quant") ? o->bits : 32,
                c->preset->metric);
        if (c->ok) fprintf(f, "%.6f,", c->value); else fprintf(f, ",");
        if (!isnan(r)) fprintf(f, "%.4f,", r); else fprintf(f, ",");
        if (c->ok) fprintf(f, "%.1f,%s\n", c->wall, c->run_dir); else fprintf(f, ",\n");
    }
    atomic_file_commit(&af);
}

static void write_json(const TableOptions *o, const Cell *cells, int n) {
    JsonWriter w;
    json_init(&w);
    json_begin_object(&w, NULL);
    json_int(&w, "bits", o->bits);
    json_string(&w, "preset", o->preset);
    json_begin_object(&w, "metric");
    for (int m = 0; m < o->nmodels; m++) json_string(&w, o->models[m], table_preset(o->preset, o->models[m])->metric);
    json_end_object(&w);
    const char *sections[3] = {"absolute", "relative", "runs"};
    for (int s = 0; s < 3; s++) {
        json_begin_object(&w, sections[s]);
        for (int m = 0; m < o->nmodels; m++) {
            json_begin_object(&w, o->models[m]);
            for (int k = 0; k < o->nmethods; k++) {
                const Cell *c = find_cell(cells, n, o->models[m], o->methods[k]);
                if (s == 2) {
                    if (c && c->ok) json_string(&w, o->methods[k], c->run_dir);
                    else json_null(&w, o->methods[k]);
                } else {
                    json_number(&w, o->methods[k], s == 0 ? (c && c->ok ? c->value : NAN) : relative(cells, n, c));
                }
            }
            json_end_object(&w);
        }
        json_end_object(&w);
    }
    json_end_object(&w);
    char path[1100];
    snprintf(path, sizeof path, "%s/table_%dbit.json", o->output_dir, o->bits);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fputs(w.buf, f);
    fputc('\n', f);
    atomic_file_commit(&af);
    json_free(&w);
}

/* Table 2 as grouped bars: one group per model, one bar per method, 100% line. */
static void write_svg(const TableOptions *o, const Cell *cells, int n) {
    static const char *const colors[] = {"#888888", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
    double lo = 100.0, hi = 100.0;
    for (int i = 0; i < n; i++) {
        double r = relative(cells, n, &cells[i]);
        if (isnan(r)) continue;
        lo = r < lo ? r : lo;
        hi = r > hi ? r : hi;
    }
    lo = floor((lo - 2.0) / 5.0) * 5.0;
    if (lo < 0) lo = 0;
    hi = ceil((hi + 1.0) / 5.0) * 5.0;
    int W = 160 + 220 * o->nmodels, H = 360, top = 40, bottom = 300, left = 70;
    char path[1100];
    snprintf(path, sizeof path, "%s/table_%dbit.svg", o->output_dir, o->bits);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">%% of no quantization at W%dA%d (%s preset)</text>\n", left, o->bits, o->bits, o->preset);
#define YPOS(v) (bottom - (double)(bottom - top) * ((v) - lo) / (hi - lo))
    for (double v = lo; v <= hi + 1e-9; v += 5.0) {
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, W - 80, YPOS(v), YPOS(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", left - 6, YPOS(v) + 4, v);
    }
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n", left, W - 80, YPOS(100.0), YPOS(100.0));
    int bw = 190 / (o->nmethods > 0 ? o->nmethods : 1);
    for (int m = 0; m < o->nmodels; m++) {
        int gx = left + 20 + 220 * m;
        for (int k = 0; k < o->nmethods; k++) {
            const Cell *c = find_cell(cells, n, o->models[m], o->methods[k]);
            double r = relative(cells, n, c);
            int x = gx + k * bw;
            if (isnan(r)) {
                fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\">x</text>\n", x + bw / 3, bottom - 4);
                continue;
            }
            double y = YPOS(r < lo ? lo : r);
            fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %.1f%%</title></rect>\n",
                    x, y, bw - 4, bottom - y, colors[k % 6], o->models[m], method_title(o->methods[k]), r);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", gx + bw * o->nmethods / 2, bottom + 18, o->models[m]);
    }
    for (int k = 0; k < o->nmethods; k++) {
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", W - 75, top + 18 * k, colors[k % 6]);
        fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", W - 58, top + 18 * k + 10, method_title(o->methods[k]));
    }
#undef YPOS
    fprintf(f, "</svg>\n");
    atomic_file_commit(&af);
}

static void write_tables(const TableOptions *o, Cell *cells, int ncells, double total_wall) {
    write_markdown(o, cells, ncells, total_wall);
    write_csv(o, cells, ncells);
    write_json(o, cells, ncells);
    write_svg(o, cells, ncells);
}
