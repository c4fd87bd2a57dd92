/* signals.h: what a signal that ends the process (Ctrl-C, kill, a closed terminal or pipe) does to
 * a run that writes files or has an index open. Left alone it ends the process at once; these let
 * the run tidy up first. The state is process-wide, as signals are. A signal ignored when align
 * started (nohup, a background job of a script) stays ignored. */
#ifndef ALIGN_CLI_SIGNALS_H
#define ALIGN_CLI_SIGNALS_H

/* While tmp is not NULL, such a signal removes the file tmp, then ends the process: the temporary
 * file an output is written under (outfile.h). */
void signals_remove_on_death(const char *tmp);

/* From now on the first such signal ends nothing: it is only noted. The run asks signals_caught()
 * between its transactions, stops there and closes its files (closing an index folds SQLite's WAL
 * into the file and removes the -wal and -shm files SQLite makes beside it, for readers too), and
 * main ends the process by signals_rethrow(). A second signal ends the process at once (removing
 * the signals_remove_on_death file). */
void signals_defer(void);
/* The signal noted since signals_defer(); 0 when none came. */
int signals_caught(void);
/* Ends the process by the signal noted, as that signal would have ended it (the shell sees 128 +
 * its number); returns when none was noted. */
void signals_rethrow(void);

#endif
