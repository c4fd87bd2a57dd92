/* commands.h: the align commands; each takes its own argv (argv[0] is the command's name) and
 * returns the exit status. */
#ifndef ALIGN_CLI_COMMANDS_H
#define ALIGN_CLI_COMMANDS_H

int cmd_classify(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);

#endif
