"""Where StreamGuard overrides Faust or aiokafka internals; each module cites the upstream behaviour it
corrects.
"""
