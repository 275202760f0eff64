/* The temporary paths this process made and has not finished with: the
 * temporary file of every atomic write (io/atomic_file.h) and the staging
 * folder of a model being trained. Their owners remove them on success and on
 * failure; tempfiles_remove_all removes what is still listed when the process
 * must end at once (a second Ctrl-C). Nothing is ever removed by a name
 * pattern: only paths listed here, which this process created itself.
 *
 * Thread-safe: one mutex guards the list. tempfiles_lock holds it around a
 * step that must not be cut (the swap of a model folder), so that an exit at
 * once waits for the step to end. */
#ifndef NN_IO_TEMPFILES_H
#define NN_IO_TEMPFILES_H

/* Lists path (a file, or a folder when contents is non-NULL: the NULL-ended
 * names inside it that this process may have written, removed before the
 * folder). Returns the entry's id for tempfiles_forget. Both are copied. */
int tempfiles_add(const char *path, const char *const *contents);
/* Takes the entry off the list (its owner renamed or removed it). -1 is ignored. */
void tempfiles_forget(int id);
/* Removes every listed path (files, then each folder's listed contents and the
 * folder) and empties the list; returns how many paths it removed. */
int tempfiles_remove_all(void);
/* Holds the list's mutex (recursive: the holder may add and forget entries meanwhile). */
void tempfiles_lock(void);
/* Releases it. */
void tempfiles_unlock(void);

#endif
