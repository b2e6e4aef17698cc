"""What a Celery worker of a taskhub app runs on: the queues and routes, the periodic
jobs, Redis liveness, RabbitMQ's delayed delivery, Flower's guard and the log format.
Imports nothing of taskhub's but ``conf``."""
