# The native hot path. Each function here has a pure-Python twin that is its specification
# (named in its docstring); tests/unit/test_nesting.py holds them to identical results.


cpdef object tree_violation(object value, str path, Py_ssize_t depth, Py_ssize_t max_depth,
                            Py_ssize_t max_string):
    """Twin of collector.nesting.tree_violation."""
    cdef object key, item, found
    cdef str where
    cdef Py_ssize_t index
    if depth > max_depth:
        return "too_deep", f"{path} nests deeper than {max_depth} levels"
    if type(value) is dict:
        for key, item in (<dict>value).items():
            if len(<str>key) > max_string:
                return "string_too_long", f"a key in {path} is too long"
            where = f"{path}.{key}"
            found = _item_violation(item, where, depth, max_depth, max_string)
            if found is not None:
                return found
    else:
        for index in range(len(<list>value)):
            item = (<list>value)[index]
            where = f"{path}[{index}]"
            found = _item_violation(item, where, depth, max_depth, max_string)
            if found is not None:
                return found
    return None


cdef inline object _item_violation(object item, str where, Py_ssize_t depth,
                                   Py_ssize_t max_depth, Py_ssize_t max_string):
    cdef type kind = type(item)
    if kind is dict or kind is list:
        return tree_violation(item, where, depth + 1, max_depth, max_string)
    if kind is str and len(<str>item) > max_string:
        return "string_too_long", f"{where} has {len(<str>item)} characters"
    return None
