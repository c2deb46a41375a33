/* queue.h - blocking FIFO queues between the relay's threads.
 *
 * Work moves between threads only through these queues: the WebSocket
 * thread pushes jobs to the verify workers and the database threads, and
 * they push results back. A queue is an intrusive singly linked list under
 * a mutex; items embed an ns_qnode. Pushing never blocks; popping can wait.
 * An optional `notify` callback runs after each push (outside the lock): the
 * WebSocket thread's queue uses it to wake libwebsockets.
 */
#ifndef NS_QUEUE_H
#define NS_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct ns_qnode {
    struct ns_qnode *next;
} ns_qnode;

typedef struct ns_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    ns_qnode *head, *tail;
    size_t len;
    bool closed;
    void (*notify)(void *arg);
    void *notify_arg;
} ns_queue;

void ns_queue_init(ns_queue *q, void (*notify)(void *), void *notify_arg);
void ns_queue_destroy(ns_queue *q);

/* Sets *ts to `ms` milliseconds from now on `clock`, for the timed waits
 * (pthread_cond_timedwait) of the queues and of other threads. */
void ns_deadline_in(struct timespec *ts, clockid_t clock, int ms);

/* Appends an item. Returns false (item not taken) when the queue is closed. */
bool ns_queue_push(ns_queue *q, ns_qnode *n);

/* Removes up to max items into out[]; waits up to timeout_ms (-1: forever,
 * 0: not at all) for the first. Returns the count; 0 on timeout or when the
 * queue is closed and empty. */
size_t ns_queue_pop_many(ns_queue *q, ns_qnode **out, size_t max, int timeout_ms);

/* Removes everything at once without waiting; returns the list (oldest
 * first, linked through next) or NULL. */
ns_qnode *ns_queue_take_all(ns_queue *q);

/* Wakes every waiter; later pushes fail; pops drain what is left. */
void ns_queue_close(ns_queue *q);

size_t ns_queue_len(ns_queue *q);

#endif
