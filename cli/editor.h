/* editor.h — line editing for the REPL on a terminal (see editor.c). */
#ifndef ERYX_CLI_EDITOR_H
#define ERYX_CLI_EDITOR_H

#include <stddef.h>

typedef struct cli_editor cli_editor;

/* Completion candidates for `word` (`len` bytes, the name being typed,
 * maybe dotted): a malloc'd array of malloc'd NUL-terminated names, its
 * length in *count (NULL and 0 for none). The editor frees them. */
typedef char **(*cli_complete_fn)(void *user_data, const char *word, size_t len,
                                  size_t *count);

/* A line editor (libedit) reading the terminal on stdin, prompting on
 * stderr. `interrupt_fd` becomes readable when Ctrl-C was pressed (the
 * REPL's signal thread writes to it): the line being edited is then
 * dropped. NULL when stdin is not a terminal or libedit fails. */
cli_editor *cli_editor_new(int interrupt_fd, cli_complete_fn complete, void *user_data);

typedef enum { CLI_LINE, CLI_INTERRUPTED, CLI_EOF } cli_read_status;

/* Reads one line (with its '\n') into *line (malloc'd, the caller frees
 * it) for CLI_LINE. */
cli_read_status cli_editor_read(cli_editor *e, const char *prompt, char **line);

/* Adds an input (a whole statement, maybe several lines) to the history. */
void cli_editor_remember(cli_editor *e, const char *input);

void cli_editor_free(cli_editor *e);

#endif
