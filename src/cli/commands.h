/* Subcommands of the qat binary. Each parses its own flags and returns an exit code.
 * Internal to cli/: only files of cli/ include it (scripts/check_layers.sh). */
#ifndef QAT_CLI_COMMANDS_H
#define QAT_CLI_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_table(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* Shared flag helpers: "--name value" or "--name=value". Returns the value and advances
 * *i, or NULL when argv[*i] is not this flag. Dies when the value is missing. */
const char *flag_value(int argc, char **argv, int *i, const char *name);
/* Dies unless s names one of the NULL-terminated choices. */
void flag_check_choice(const char *flag, const char *s, const char *const *choices);
long flag_parse_long(const char *flag, const char *s, long lo, long hi);
double flag_parse_double(const char *flag, const char *s, double lo, double hi);

#endif
