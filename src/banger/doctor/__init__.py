"""banger.doctor"""
