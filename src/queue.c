/* queue.c - blocking FIFO queues between threads (see queue.h). */
#include "queue.h"

#include <errno.h>
#include <time.h>

void ns_queue_init(ns_queue *q, void (*notify)(void *), void *notify_arg)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->nonempty, &ca);
    pthread_condattr_destroy(&ca);
    q->head = q->tail = NULL;
    q->len = 0;
    q->closed = false;
    q->notify = notify;
    q->notify_arg = notify_arg;
}

void ns_queue_destroy(ns_queue *q)
{
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->nonempty);
}

bool ns_queue_push(ns_queue *q, ns_qnode *n)
{
    n->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->len++;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    if (q->notify)
        q->notify(q->notify_arg);
    return true;
}

void ns_deadline_in(struct timespec *ts, clockid_t clock, int ms)
{
    clock_gettime(clock, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

size_t ns_queue_pop_many(ns_queue *q, ns_qnode **out, size_t max, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms > 0)
        ns_deadline_in(&deadline, CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->closed && timeout_ms != 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&q->nonempty, &q->lock);
        else if (pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline) == ETIMEDOUT)
            break;
    }
    size_t n = 0;
    while (n < max && q->head != NULL) {
        out[n++] = q->head;
        q->head = q->head->next;
        q->len--;
    }
    if (q->head == NULL)
        q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return n;
}

ns_qnode *ns_queue_take_all(ns_queue *q)
{
    pthread_mutex_lock(&q->lock);
    ns_qnode *h = q->head;
    q->head = q->tail = NULL;
    q->len = 0;
    pthread_mutex_unlock(&q->lock);
    return h;
}

void ns_queue_close(ns_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

size_t ns_queue_len(ns_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}
