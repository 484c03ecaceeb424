using System;

namespace VirtioMedia.Runtime.Pooling;

/// <summary>
/// A small pool of reusable objects: a stack behind a lock. Unlike <see cref="System.Collections.Concurrent.ConcurrentBag{T}"/>
/// it keeps no per-thread lists, so an object returned on one thread and rented on another costs no allocation,
/// and once the stack has grown to the peak number of objects out at once, nothing is allocated again.
/// </summary>
internal sealed class ObjectPool<T>
    where T : class
{
    private readonly object _gate = new();
    private T[] _items;
    private int _count;

    public ObjectPool(int capacity = 16) => _items = new T[Math.Max(capacity, 1)];

    public bool TryRent(out T item)
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                item = null!;
                return false;
            }
            item = _items[--_count];
            _items[_count] = null!;
            return true;
        }
    }

    public void Return(T item)
    {
        lock (_gate)
        {
            if (_count == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
            }
            _items[_count++] = item;
        }
    }
}
